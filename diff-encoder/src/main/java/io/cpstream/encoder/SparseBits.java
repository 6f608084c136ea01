package io.cpstream.encoder;

/**
 * A bit per page of a guest over {@link SparseLongs} (a word per 64 pages): heap for the pages set, not for the
 * declared size, where a {@link java.util.BitSet} sized from the guest takes a bit per declared page at once.
 *
 * <p>Not thread-safe.
 */
public final class SparseBits {

    private final long size;
    private final SparseLongs words;

    public SparseBits(long size) {
        if (size < 0) {
            throw new IllegalArgumentException("size " + size);
        }
        this.size = size;
        this.words = new SparseLongs((size + 63) >>> 6);
    }

    public long size() {
        return size;
    }

    public boolean get(long index) {
        check(index);
        return (words.get(index >>> 6) & (1L << index)) != 0;
    }

    public void set(long index) {
        check(index);
        long word = words.get(index >>> 6);
        long bit = 1L << index;
        if ((word & bit) == 0) {
            words.set(index >>> 6, word | bit);
        }
    }

    /** The first set index at or after {@code from}, or -1; leaves never written are skipped whole. */
    public long nextSetBit(long from) {
        long w = from >>> 6;
        long wordCount = words.size();
        if (from < 0 || w >= wordCount) {
            return -1;
        }
        long word = words.get(w) & (-1L << from);
        while (true) {
            if (word != 0) {
                long index = (w << 6) + Long.numberOfTrailingZeros(word);
                return index < size ? index : -1;
            }
            w++;
            if (w >= wordCount) {
                return -1;
            }
            if ((w & (SparseLongs.LEAF - 1)) == 0 && leafEmpty(w)) {
                w += SparseLongs.LEAF - 1; // the loop's next step enters the next leaf
                word = 0;
                continue;
            }
            word = words.get(w);
        }
    }

    /** Whether every page of {@code [from, from + 64 * n)} is set; {@code from} a multiple of 64. */
    public boolean allSet(long from, long pages) {
        if ((from & 63) != 0 || (pages & 63) != 0) {
            throw new IllegalArgumentException("range [" + from + ", +" + pages + ") not word-aligned");
        }
        for (long w = from >>> 6, end = (from + pages) >>> 6; w < end; w++) {
            if (w >= words.size() || words.get(w) != -1L) {
                return false;
            }
        }
        return true;
    }

    public void clear() {
        words.clear();
    }

    public long heapBytes() {
        return words.heapBytes();
    }

    /** A leaf of words never written holds zeros: bits are never filled a leaf at a time. */
    private boolean leafEmpty(long word) {
        return !words.isAllocated((int) (word >>> SparseLongs.LEAF_SHIFT));
    }

    private void check(long index) {
        if (index < 0 || index >= size) {
            throw new IndexOutOfBoundsException("page " + index + " of " + size);
        }
    }
}
