package io.cpstream.encoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.function.IntFunction;

/**
 * Agent side: copies of what the collector holds, so the next change of a page can travel as a DELTA against
 * exactly that version.
 *
 * <p>Admission is XBZRLE's: while the cache has room, every page sent keeps a copy (a page rewritten wholesale
 * today may take a 16-byte write tomorrow, and without a copy that write would travel whole). What the collector's
 * {@code Feedback} says ({@link #acceptFeedback}) decides what leaves once the cache is full: a page judged not a
 * delta candidate never pushes another page out, and the eviction policy (the agent's {@link HistoryEviction})
 * gives up non-candidates before candidates and pages on probation (not judged yet), and cold pages before hot
 * ones. The copies live in one off-heap block bounded by a byte budget (default {@value #DEFAULT_BUDGET_BYTES}
 * bytes).
 *
 * <p>Every lookup and store is O(1) and allocation-free: a page-to-slot table, one preallocated view per
 * slot. Not thread-safe: used by the thread that encodes the stream.
 */
public final class DeltaBaseCache implements AutoCloseable {

    public static final long DEFAULT_BUDGET_BYTES = 64L << 20;

    private static final int NO_SLOT = -1;

    private final int pageSize;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment[] slotCopies;
    private final long[] slotPage;
    private final long[] slotVersion;
    private final int[] slotOfPage;
    private final long[] candidateBits;
    private final long[] judgedBits;
    private final BaseEvictionPolicy eviction;
    private final int[] freeSlots;
    private int freeCount;

    private long hits;
    private long misses;
    private long evictions;

    /** A cache of {@value #DEFAULT_BUDGET_BYTES} bytes with CLOCK eviction. */
    public DeltaBaseCache(int pageSize, long pageCount) {
        this(pageSize, pageCount, DEFAULT_BUDGET_BYTES, ClockEviction::new);
    }

    /**
     * @param budgetBytes bytes of page copies to hold at most (rounded down to whole pages, at least one)
     * @param eviction    makes the eviction policy for the given number of slots
     */
    public DeltaBaseCache(int pageSize, long pageCount, long budgetBytes, IntFunction<BaseEvictionPolicy> eviction) {
        if (pageSize <= 0 || pageCount <= 0 || pageCount > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("page size " + pageSize + ", page count " + pageCount);
        }
        long slots = Math.min(Math.max(1, budgetBytes / pageSize), pageCount);
        if (slots > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("budget of " + budgetBytes + " bytes is too many slots");
        }
        this.pageSize = pageSize;
        int slotCount = (int) slots;
        MemorySegment block = arena.allocate((long) slotCount * pageSize, pageSize);
        slotCopies = new MemorySegment[slotCount];
        for (int i = 0; i < slotCount; i++) {
            slotCopies[i] = block.asSlice((long) i * pageSize, pageSize);
        }
        slotPage = new long[slotCount];
        slotVersion = new long[slotCount];
        slotOfPage = new int[(int) pageCount];
        Arrays.fill(slotOfPage, NO_SLOT);
        candidateBits = new long[(int) ((pageCount + 63) >>> 6)];
        judgedBits = new long[candidateBits.length];
        this.eviction = eviction.apply(slotCount);
        freeSlots = new int[slotCount];
        for (int i = 0; i < slotCount; i++) {
            freeSlots[i] = slotCount - 1 - i;
        }
        freeCount = slotCount;
    }

    /**
     * The collector's verdict: {@code candidates} change little between checkpoints and are worth a base
     * copy; {@code notCandidates} are not: their copies stay while there is room, and are the first to go when
     * there is none.
     */
    public void acceptFeedback(long[] candidates, long[] notCandidates) {
        for (long page : candidates) {
            checkPage(page);
            candidateBits[(int) (page >>> 6)] |= 1L << page;
            judgedBits[(int) (page >>> 6)] |= 1L << page;
        }
        for (long page : notCandidates) {
            checkPage(page);
            candidateBits[(int) (page >>> 6)] &= ~(1L << page);
            judgedBits[(int) (page >>> 6)] |= 1L << page;
        }
    }

    /** True while the collector judged {@code page} a delta candidate, or has not judged it yet. */
    public boolean worthKeeping(long page) {
        return isCandidate(page) || onProbation(page);
    }

    public boolean isCandidate(long page) {
        checkPage(page);
        return (candidateBits[(int) (page >>> 6)] & (1L << page)) != 0;
    }

    /**
     * The copy of the collector's version of {@code page}, or null when this cache holds none. The view is
     * valid until the next {@link #sent}, {@link #remove} or eviction.
     */
    public MemorySegment base(long page) {
        int slot = slotOfPage[checkPage(page)];
        if (slot == NO_SLOT) {
            misses++;
            return null;
        }
        hits++;
        eviction.accessed(slot);
        return slotCopies[slot];
    }

    /** The version (epoch) of the cached copy of {@code page}, or -1 when this cache holds none. */
    public long version(long page) {
        int slot = slotOfPage[checkPage(page)];
        return slot == NO_SLOT ? -1 : slotVersion[slot];
    }

    /** True until the collector has given a verdict on {@code page}. */
    public boolean onProbation(long page) {
        checkPage(page);
        return (judgedBits[(int) (page >>> 6)] & (1L << page)) == 0;
    }

    /**
     * {@code content} of {@code page} was just sent in checkpoint {@code version}: keep a copy. A candidate or a page
     * on probation takes a slot even when that evicts another base; any other page only refreshes the slot it has
     * or takes a free one, and otherwise has no copy (its old one would be stale).
     */
    public void sent(long page, MemorySegment content, long version) {
        if (worthKeeping(page) || slotOfPage[checkPage(page)] != NO_SLOT || freeCount > 0) {
            store(page, content, version);
        }
    }

    /** Keeps a copy of {@code content} as the collector's version {@code version} of {@code page}. */
    public void store(long page, MemorySegment content, long version) {
        if (content.byteSize() != pageSize) {
            throw new IllegalArgumentException("content is " + content.byteSize() + " bytes, page is " + pageSize);
        }
        int p = checkPage(page);
        int slot = slotOfPage[p];
        if (slot == NO_SLOT) {
            slot = takeSlot();
            slotOfPage[p] = slot;
            slotPage[slot] = page;
            eviction.inserted(slot, page);
        } else {
            eviction.accessed(slot);
        }
        MemorySegment.copy(content, 0, slotCopies[slot], 0, pageSize);
        slotVersion[slot] = version;
    }

    /** Forgets the copy of {@code page}, if any (e.g. the page was sent in a form the agent did not keep). */
    public void remove(long page) {
        int p = checkPage(page);
        int slot = slotOfPage[p];
        if (slot != NO_SLOT) {
            slotOfPage[p] = NO_SLOT;
            eviction.removed(slot);
            freeSlots[freeCount++] = slot;
        }
    }

    /**
     * The collector dropped every checkpoint after {@code committedEpoch} (Resync): copies made in those
     * checkpoints describe versions it will never hold.
     */
    public void discardNewerThan(long committedEpoch) {
        for (int slot = 0; slot < slotCopies.length; slot++) {
            long page = slotPage[slot];
            if (slotOfPage[(int) page] == slot && slotVersion[slot] > committedEpoch) {
                remove(page);
            }
        }
    }

    /**
     * The collector no longer knows which epoch wrote its copies of versions up to {@code version} (it
     * restarted then): deltas against them would be refused, so the copies are worthless.
     */
    public void discardVersionsUpTo(long version) {
        for (int slot = 0; slot < slotCopies.length; slot++) {
            long page = slotPage[slot];
            if (slotOfPage[(int) page] == slot && slotVersion[slot] <= version) {
                remove(page);
            }
        }
    }

    /** Forgets every copy (e.g. after a full resync); verdicts stay. */
    public void clear() {
        for (int slot = 0; slot < slotCopies.length; slot++) {
            long page = slotPage[slot];
            if (slotOfPage[(int) page] == slot) {
                remove(page);
            }
        }
    }

    public int capacityPages() {
        return slotCopies.length;
    }

    public int cachedPages() {
        return slotCopies.length - freeCount;
    }

    public long hits() {
        return hits;
    }

    public long misses() {
        return misses;
    }

    public long evictions() {
        return evictions;
    }

    @Override
    public void close() {
        arena.close();
    }

    private int takeSlot() {
        if (freeCount > 0) {
            return freeSlots[--freeCount];
        }
        int victim = eviction.victim();
        slotOfPage[(int) slotPage[victim]] = NO_SLOT;
        evictions++;
        return victim;
    }

    private int checkPage(long page) {
        if (page < 0 || page >= slotOfPage.length) {
            throw new IndexOutOfBoundsException("page " + page + " of " + slotOfPage.length);
        }
        return (int) page;
    }
}
