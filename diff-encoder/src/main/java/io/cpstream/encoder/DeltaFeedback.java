package io.cpstream.encoder;

import java.util.Arrays;

/**
 * Collector side: turns per-page verdicts of the {@link DeltaCandidateClassifier} into the two lists of a
 * {@code Feedback} message. The first verdict on each page and every change of verdict are reported, nothing
 * else, so a steady guest costs no feedback traffic; the agent keeps the last verdict for each page
 * ({@link DeltaBaseCache#acceptFeedback}) and treats a page it has no verdict on yet as on probation.
 *
 * <p>Not thread-safe: one per stream.
 */
public final class DeltaFeedback {

    /**
     * Per page one byte, eight to a word, allocated only for the leaves of pages that got a verdict (heap for the
     * pages judged, not for the guest's declared size): {@link #REPORTED}, {@link #CANDIDATE} and, for a page
     * reported not a candidate, the receipts left before it is classified again (low bits).
     */
    private final SparseLongs state;
    private final long pageCount;
    private static final int REPORTED = 0x80;
    private static final int CANDIDATE = 0x40;
    private static final int RECHECK_MASK = 0x0F;
    private long[] newCandidates = new long[64];
    private int newCandidateCount;
    private long[] newNotCandidates = new long[64];
    private int newNotCandidateCount;

    public DeltaFeedback(long pageCount) {
        if (pageCount <= 0 || pageCount > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("page count " + pageCount + " out of range");
        }
        this.pageCount = pageCount;
        this.state = new SparseLongs((pageCount + 7) >>> 3);
    }

    /** A page reported not a candidate is classified again only on one receipt in this many. */
    public static final int NOT_CANDIDATE_RECHECK = 8;

    /**
     * Whether a page just received is worth classifying: always, unless it was last reported not a candidate, which
     * a page rewritten wholesale stays for good; such a page is classified again on one receipt in
     * {@value #NOT_CANDIDATE_RECHECK}, so it still becomes a candidate within a few writes once it changes only a
     * little. Saves the comparison of every randomly rewritten page with its previous version.
     */
    public boolean worthClassifying(long page) {
        int bits = stateOf(page);
        if ((bits & REPORTED) == 0 || (bits & CANDIDATE) != 0) {
            return true;
        }
        int recheckIn = bits & RECHECK_MASK;
        if (recheckIn > 0) {
            setState(page, (bits & ~RECHECK_MASK) | (recheckIn - 1));
            return false;
        }
        setState(page, (bits & ~RECHECK_MASK) | (NOT_CANDIDATE_RECHECK - 1));
        return true;
    }

    /** Records the verdict for {@code page}; it is reported if it is the first or differs from the last one reported. */
    public void note(long page, DeltaCandidateClassifier.Decision decision) {
        if (page < 0 || page >= pageCount) {
            throw new IndexOutOfBoundsException("page " + page);
        }
        int bits = stateOf(page);
        boolean reported = (bits & REPORTED) != 0;
        boolean was = (bits & CANDIDATE) != 0;
        boolean is = decision == DeltaCandidateClassifier.Decision.CANDIDATE;
        if (reported && was == is) {
            return;
        }
        if (is) {
            setState(page, REPORTED | CANDIDATE | (bits & RECHECK_MASK));
            newCandidates = append(newCandidates, newCandidateCount++, page);
        } else {
            setState(page, REPORTED | (bits & RECHECK_MASK));
            newNotCandidates = append(newNotCandidates, newNotCandidateCount++, page);
        }
    }

    /** Heap the per-page verdicts hold ({@link SparseLongs#heapBytes}). */
    public long heapBytes() {
        return state.heapBytes();
    }

    private int stateOf(long page) {
        return (int) (state.get(page >>> 3) >>> ((page & 7) << 3)) & 0xFF;
    }

    private void setState(long page, int bits) {
        int shift = (int) ((page & 7) << 3);
        long word = state.get(page >>> 3);
        state.set(page >>> 3, (word & ~(0xFFL << shift)) | ((long) bits << shift));
    }

    public boolean hasNews() {
        return newCandidateCount + newNotCandidateCount > 0;
    }

    /** Pages that became candidates since the last drain. */
    public long[] drainCandidates() {
        long[] out = Arrays.copyOf(newCandidates, newCandidateCount);
        newCandidateCount = 0;
        return out;
    }

    /** Pages that stopped being candidates since the last drain. */
    public long[] drainNotCandidates() {
        long[] out = Arrays.copyOf(newNotCandidates, newNotCandidateCount);
        newNotCandidateCount = 0;
        return out;
    }

    /**
     * Forgets what was reported, so the next verdicts are all news: call when the agent reconnects, as a new
     * agent knows no verdicts.
     */
    public void reset() {
        state.clear();
        newCandidateCount = 0;
        newNotCandidateCount = 0;
    }

    private static long[] append(long[] array, int at, long value) {
        long[] out = at == array.length ? Arrays.copyOf(array, array.length * 2) : array;
        out[at] = value;
        return out;
    }
}
