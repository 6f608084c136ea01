package io.cpstream.encoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The sparse per-page tables hold exactly what a plain array would, and heap only for the leaves written. */
class SparseLongsTest {

    @Test
    void behavesLikeAnArrayUnderRandomWritesAndFills() {
        Random random = new Random(19);
        int size = 5 * SparseLongs.LEAF + 77;
        long[] expected = new long[size];
        SparseLongs table = new SparseLongs(size);
        for (int step = 0; step < 20_000; step++) {
            int op = random.nextInt(100);
            if (op < 2) {
                int leaf = random.nextInt(table.leafCount());
                long value = random.nextInt(4);
                table.fillLeaf(leaf, value);
                for (int i = leaf * SparseLongs.LEAF; i < Math.min(size, (leaf + 1) * SparseLongs.LEAF); i++) {
                    expected[i] = value;
                }
            } else if (op < 3) {
                table.clear();
                java.util.Arrays.fill(expected, 0);
            } else {
                int index = random.nextInt(size);
                long value = random.nextInt(4);
                table.set(index, value);
                expected[index] = value;
            }
            int probe = random.nextInt(size);
            assertEquals(expected[probe], table.get(probe), "entry " + probe + " after step " + step);
        }
        for (int i = 0; i < size; i++) {
            assertEquals(expected[i], table.get(i));
        }
        assertThrows(IndexOutOfBoundsException.class, () -> table.get(size));
        assertThrows(IndexOutOfBoundsException.class, () -> table.set(-1, 1));
    }

    @Test
    void holdsHeapOnlyForTheLeavesWritten() {
        long pages = (64L << 30) / 4096; // a 64 GiB guest of 4 KiB pages
        SparseLongs table = new SparseLongs(pages);
        long directory = table.heapBytes();
        assertTrue(directory <= 16 * (pages / SparseLongs.LEAF) + 64, "directory " + directory);
        table.set(7, 3);
        table.set(8, 3);
        table.set(pages - 1, 9);
        assertEquals(2, table.allocatedLeaves());
        assertEquals(directory + 2 * SparseLongs.LEAF_BYTES, table.heapBytes());
        table.set(12345, 0); // the value the leaf holds already: nothing allocated
        assertEquals(2, table.allocatedLeaves());
        table.fillLeaf(0, 5); // a whole leaf of one epoch: back to no array
        assertEquals(1, table.allocatedLeaves());
        assertEquals(5, table.get(1000));
        table.clear();
        assertEquals(directory, table.heapBytes());
    }

    @Test
    void bitsMatchABitSetAndSkipUnwrittenLeaves() {
        Random random = new Random(15);
        long size = 3L * 64 * SparseLongs.LEAF + 13;
        SparseBits bits = new SparseBits(size);
        BitSet expected = new BitSet();
        for (int i = 0; i < 500; i++) {
            long index = random.nextLong(size);
            bits.set(index);
            expected.set((int) index);
        }
        bits.set(size - 1);
        expected.set((int) size - 1);
        long count = 0;
        for (long a = bits.nextSetBit(0), e = expected.nextSetBit(0); ; a = bits.nextSetBit(a + 1),
                e = expected.nextSetBit((int) e + 1)) {
            assertEquals(e, a);
            if (a < 0) {
                break;
            }
            assertTrue(bits.get(a));
            count++;
        }
        assertEquals(expected.cardinality(), count);
        assertFalse(bits.allSet(0, 64));
        for (long i = 64 * SparseLongs.LEAF; i < 64 * SparseLongs.LEAF + SparseLongs.LEAF; i++) {
            bits.set(i);
        }
        assertTrue(bits.allSet(64 * SparseLongs.LEAF, SparseLongs.LEAF));
        SparseBits sparse = new SparseBits((64L << 30) / 4096);
        sparse.set(5);
        assertEquals(-1, sparse.nextSetBit(6));
        assertEquals(1, countLeaves(sparse));
    }

    private static long countLeaves(SparseBits bits) {
        return (bits.heapBytes() - new SparseBits(bits.size()).heapBytes()) / SparseLongs.LEAF_BYTES;
    }
}
