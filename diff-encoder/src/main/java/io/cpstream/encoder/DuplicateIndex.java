package io.cpstream.encoder;

/**
 * Agent side: which page the receiver holds with a given 128-bit content hash, so a page whose
 * content the receiver already has travels as DUPLICATE (no payload).
 *
 * <p>A direct-mapped table of {@code slots} entries (hash, page, generation): lossy by design, so its
 * memory is fixed whatever the guest does. An entry is valid only while the page's generation is the
 * one it was recorded with; recording or forgetting a page bumps its generation, which is how a page's
 * old content drops out without searching for it.
 *
 * <p>The wire says a DUPLICATE repeats page {@code source_index} as the receiver holds it at the
 * checkpoint's base epoch (its committed image). To keep that true while a checkpoint is encoded, what
 * this checkpoint sends is only <em>pending</em> ({@link #recordPending}, {@link #forgetPending}) and becomes
 * a source at {@link #publish()}, once the whole checkpoint is encoded: a checkpoint that applies at all
 * applies on top of the previous one, so from the next checkpoint on the receiver holds it. A page dirty in
 * this checkpoint still serves as a source with its old content, which is exactly what the receiver's
 * committed image holds. After an aborted checkpoint (Resync, reconnect), call {@link #clear}.
 *
 * <p>Looking up costs a 128-bit hash of the page, which is wasted on a guest whose pages never repeat. So the
 * index watches its own hit rate ({@link #shouldLookUp}): after a window of {@value #WINDOW} lookups with fewer
 * than one hit in {@value #MIN_HIT_RATE_INVERSE}, only one page in {@value #SAMPLE_STRIDE} is looked up (and
 * recorded), until a sampled window shows that rate of hits again. A page not looked up is
 * {@linkplain #forgetPending forgotten} as a source, so sampling only ever loses duplicates, never names a wrong
 * one.
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
    /** What the checkpoint being encoded sends, applied at {@link #publish()}: page, hash, or -1 for forget. */
    private int[] pendingPage = new int[64];
    private long[] pendingHigh = new long[64];
    private long[] pendingLow = new long[64];
    private boolean[] pendingForget = new boolean[64];
    private int pendingCount;

    /** Lookups per verdict on whether looking up pays, when every page is looked up. */
    static final int WINDOW = 4096;
    /** While sampling, one page in this many is looked up. */
    static final int SAMPLE_STRIDE = 16;
    /** Looking up every page pays while at least one lookup in this many hits. */
    static final int MIN_HIT_RATE_INVERSE = 128;
    private boolean adaptive = true;
    private boolean sampling;
    private int skippedSinceSample;
    private int windowLookups;
    private int windowHits;
    private long lookups;
    private long hits;
    /** Whether anything was published since construction or the last clear: a lookup in an empty index says nothing. */
    private boolean holdsSources;

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

    /**
     * Whether the next page is worth hashing and looking up (see the class comment). When this says no, the caller
     * must {@link #forgetPending} the page instead of recording it.
     */
    public boolean shouldLookUp() {
        if (!sampling) {
            return true;
        }
        if (++skippedSinceSample < SAMPLE_STRIDE) {
            return false;
        }
        skippedSinceSample = 0;
        return true;
    }

    /** Turns the sampling off: every page is looked up whatever the hit rate (benchmarks of the full path). */
    DuplicateIndex lookingUpEveryPage() {
        adaptive = false;
        sampling = false;
        return this;
    }

    /** True while only one page in {@value #SAMPLE_STRIDE} is looked up. */
    public boolean sampling() {
        return sampling;
    }

    /** Lookups since construction, not counting those made while the index held no source (a full sync). */
    public long lookups() {
        return lookups;
    }

    /** Lookups that found a source, since construction. */
    public long hits() {
        return hits;
    }

    /** A page the receiver holds with this content hash, or -1. */
    public long find(long high, long low) {
        long source = lookUp(high, low);
        if (!holdsSources) {
            return source;  // a full sync: every lookup misses, which says nothing about how often pages repeat
        }
        lookups++;
        windowLookups++;
        if (source >= 0) {
            hits++;
            windowHits++;
        }
        if (adaptive && windowLookups == (sampling ? WINDOW / SAMPLE_STRIDE : WINDOW)) {
            sampling = (long) windowHits * MIN_HIT_RATE_INVERSE < windowLookups;
            windowLookups = 0;
            windowHits = 0;
        }
        return source;
    }

    private long lookUp(long high, long low) {
        int slot = slot(low);
        if (hashHigh[slot] != high || hashLow[slot] != low) {
            return -1;
        }
        int page = pageOfSlot[slot];
        return generationOfPage[page] == generationOfSlot[slot] ? page : -1;
    }

    /** Page {@code page} now holds (on the receiver, once this checkpoint commits) content with this hash. */
    public void record(long page, long high, long low) {
        holdsSources = true;
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

    /** This checkpoint sends page {@code page} with content of this hash; a source from {@link #publish()} on. */
    public void recordPending(long page, long high, long low) {
        addPending(checkedPage(page), high, low, false);
    }

    /** This checkpoint sends page {@code page} in a form not worth a source (a zero page); forgotten at publish. */
    public void forgetPending(long page) {
        addPending(checkedPage(page), 0, 0, true);
    }

    /** The checkpoint being encoded is complete: what it sent becomes what the receiver holds. */
    public void publish() {
        for (int i = 0; i < pendingCount; i++) {
            if (pendingForget[i]) {
                forget(pendingPage[i]);
            } else {
                record(pendingPage[i], pendingHigh[i], pendingLow[i]);
            }
        }
        pendingCount = 0;
    }

    /** Forgets what is pending: the checkpoint being encoded will not be sent. */
    public void discardPending() {
        pendingCount = 0;
    }

    /** Drops every entry and anything pending: the receiver's content is no longer what this index believes. */
    public void clear() {
        pendingCount = 0;
        holdsSources = false;
        java.util.Arrays.fill(generationOfSlot, -1);
        java.util.Arrays.fill(hashHigh, 0);
        java.util.Arrays.fill(hashLow, 0);
    }

    private void addPending(int page, long high, long low, boolean forget) {
        if (pendingCount == pendingPage.length) {
            int size = pendingCount * 2;
            pendingPage = java.util.Arrays.copyOf(pendingPage, size);
            pendingHigh = java.util.Arrays.copyOf(pendingHigh, size);
            pendingLow = java.util.Arrays.copyOf(pendingLow, size);
            pendingForget = java.util.Arrays.copyOf(pendingForget, size);
        }
        pendingPage[pendingCount] = page;
        pendingHigh[pendingCount] = high;
        pendingLow[pendingCount] = low;
        pendingForget[pendingCount] = forget;
        pendingCount++;
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
