package io.cpstream.encoder;

/**
 * Agent side: which page the receiver holds with a given 128-bit content hash, so a page whose
 * content the receiver already has travels as DUPLICATE (no payload).
 *
 * <p>A direct-mapped table of {@code slots} entries (hash, page, generation): lossy by design, so its
 * memory is fixed whatever the guest does. An entry is valid only while the page's generation is the
 * one it was recorded with; {@link #forget} and {@link #record} bump the generation, which is how a
 * page's old content drops out without searching for it.
 *
 * <p>The wire says a DUPLICATE repeats page {@code source_index} of this checkpoint's <em>result</em>.
 * To keep that true, the agent calls {@link #forget} for every dirty page of a checkpoint before it
 * encodes any of them; then every hit is a page that is either untouched by this checkpoint or already
 * sent in it with exactly these bytes. After an aborted checkpoint (Resync), call {@link #clear}.
 *
 * <p>Not thread-safe: one per stream, used by the thread that encodes it.
 */
public final class DuplicateIndex {

    private final long[] hashHigh;
    private final long[] hashLow;
    private final int[] pageOfSlot;
    private final int[] generationOfSlot;
    private final int[] generationOfPage;
    private final int slotMask;

    /**
     * @param pageCount pages of guest memory (at most 2^31 - 1)
     * @param slots     entries in the table, rounded up to a power of two; 24 bytes each
     */
    public DuplicateIndex(long pageCount, int slots) {
        if (pageCount <= 0 || pageCount > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("page count " + pageCount + " out of range");
        }
        if (slots <= 0 || slots > 1 << 30) {
            throw new IllegalArgumentException("slots " + slots + " out of range");
        }
        int size = Integer.highestOneBit(slots - 1) << 1;
        if (size == 0) {
            size = 1;
        }
        hashHigh = new long[size];
        hashLow = new long[size];
        pageOfSlot = new int[size];
        generationOfSlot = new int[size];
        generationOfPage = new int[(int) pageCount];
        java.util.Arrays.fill(generationOfSlot, -1);
        slotMask = size - 1;
    }

    /** A page the receiver holds with this content hash, or -1. */
    public long find(long high, long low) {
        int slot = slot(low);
        if (hashHigh[slot] != high || hashLow[slot] != low) {
            return -1;
        }
        int page = pageOfSlot[slot];
        return generationOfPage[page] == generationOfSlot[slot] ? page : -1;
    }

    /** Page {@code page} now holds (on the receiver, once this checkpoint commits) content with this hash. */
    public void record(long page, long high, long low) {
        int p = checkedPage(page);
        int generation = ++generationOfPage[p];
        int slot = slot(low);
        hashHigh[slot] = high;
        hashLow[slot] = low;
        pageOfSlot[slot] = p;
        generationOfSlot[slot] = generation;
    }

    /** Page {@code page} is about to change: it must no longer serve as a source. */
    public void forget(long page) {
        generationOfPage[checkedPage(page)]++;
    }

    /** Drops every entry: the receiver's content is no longer what this index believes. */
    public void clear() {
        java.util.Arrays.fill(generationOfSlot, -1);
        java.util.Arrays.fill(hashHigh, 0);
        java.util.Arrays.fill(hashLow, 0);
    }

    private int slot(long low) {
        return (int) (low ^ (low >>> 32)) & slotMask;
    }

    private int checkedPage(long page) {
        if (page < 0 || page >= generationOfPage.length) {
            throw new IndexOutOfBoundsException("page " + page + " of " + generationOfPage.length);
        }
        return (int) page;
    }
}
