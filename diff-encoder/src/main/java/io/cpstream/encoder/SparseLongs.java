package io.cpstream.encoder;

import java.util.Arrays;

/**
 * A long per page of a guest, held in leaves of {@value #LEAF} entries allocated at the first write that makes a
 * leaf differ from a uniform value, so that per-page state costs heap for the pages actually written, not for the
 * size a guest declares. A leaf that is wholly one value (never written: 0; or filled at once, as a full checkpoint
 * writes every page in one epoch) costs only its directory slot.
 *
 * <p>Heap: a directory of two words per leaf of the declared size (16 bytes per {@value #LEAF} pages: 256 KiB for a
 * 64 GiB guest of 4 KiB pages), plus {@value #LEAF_BYTES} bytes per leaf that holds differing values. {@link
 * #heapBytes()} is this structure's own account of it.
 *
 * <p>Not thread-safe.
 */
public final class SparseLongs {

    public static final int LEAF_SHIFT = 10;
    public static final int LEAF = 1 << LEAF_SHIFT;
    private static final int MASK = LEAF - 1;
    /** An allocated leaf: array header (16) and its entries. */
    public static final long LEAF_BYTES = 16 + 8L * LEAF;

    private final long size;
    private final long[][] leaves;
    /** The value of every entry of a leaf that is not allocated. */
    private final long[] uniform;
    private int allocated;

    public SparseLongs(long size) {
        if (size < 0 || (size + MASK) >>> LEAF_SHIFT > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("size " + size + " out of range");
        }
        this.size = size;
        int count = (int) ((size + MASK) >>> LEAF_SHIFT);
        this.leaves = new long[count][];
        this.uniform = new long[count];
    }

    public long size() {
        return size;
    }

    public long get(long index) {
        check(index);
        long[] leaf = leaves[(int) (index >>> LEAF_SHIFT)];
        return leaf == null ? uniform[(int) (index >>> LEAF_SHIFT)] : leaf[(int) (index & MASK)];
    }

    public void set(long index, long value) {
        check(index);
        int l = (int) (index >>> LEAF_SHIFT);
        long[] leaf = leaves[l];
        if (leaf == null) {
            if (uniform[l] == value) {
                return;
            }
            leaf = new long[LEAF];
            Arrays.fill(leaf, uniform[l]);
            leaves[l] = leaf;
            allocated++;
        }
        leaf[(int) (index & MASK)] = value;
    }

    /** Sets every entry of leaf {@code leafIndex} to {@code value}, releasing its array. */
    public void fillLeaf(int leafIndex, long value) {
        if (leaves[leafIndex] != null) {
            leaves[leafIndex] = null;
            allocated--;
        }
        uniform[leafIndex] = value;
    }

    /** Every entry 0 again, every leaf released. */
    public void clear() {
        Arrays.fill(leaves, null);
        Arrays.fill(uniform, 0);
        allocated = 0;
    }

    public int leafCount() {
        return leaves.length;
    }

    public boolean isAllocated(int leafIndex) {
        return leaves[leafIndex] != null;
    }

    public int allocatedLeaves() {
        return allocated;
    }

    /** Heap this structure holds: its directory and its allocated leaves (8-byte references, 16-byte headers). */
    public long heapBytes() {
        return 2 * (16 + 8L * leaves.length) + allocated * LEAF_BYTES;
    }

    private void check(long index) {
        if (index < 0 || index >= size) {
            throw new IndexOutOfBoundsException("index " + index + " of " + size);
        }
    }
}
