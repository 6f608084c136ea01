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

    private final long[] candidateBits;
    private final long[] reportedBits;
    /** Per page reported not a candidate: receipts left before it is classified again. */
    private final byte[] recheckIn;
    private long[] newCandidates = new long[64];
    private int newCandidateCount;
    private long[] newNotCandidates = new long[64];
    private int newNotCandidateCount;

    public DeltaFeedback(long pageCount) {
        if (pageCount <= 0 || pageCount > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("page count " + pageCount + " out of range");
        }
        candidateBits = new long[(int) ((pageCount + 63) >>> 6)];
        reportedBits = new long[candidateBits.length];
        recheckIn = new byte[(int) pageCount];
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
        int word = (int) (page >>> 6);
        long bit = 1L << page;
        if ((reportedBits[word] & bit) == 0 || (candidateBits[word] & bit) != 0) {
            return true;
        }
        int p = (int) page;
        if (recheckIn[p] > 0) {
            recheckIn[p]--;
            return false;
        }
        recheckIn[p] = NOT_CANDIDATE_RECHECK - 1;
        return true;
    }

    /** Records the verdict for {@code page}; it is reported if it is the first or differs from the last one reported. */
    public void note(long page, DeltaCandidateClassifier.Decision decision) {
        if (page < 0 || page >= (long) candidateBits.length << 6) {
            throw new IndexOutOfBoundsException("page " + page);
        }
        int word = (int) (page >>> 6);
        long bit = 1L << page;
        boolean reported = (reportedBits[word] & bit) != 0;
        boolean was = (candidateBits[word] & bit) != 0;
        boolean is = decision == DeltaCandidateClassifier.Decision.CANDIDATE;
        if (reported && was == is) {
            return;
        }
        reportedBits[word] |= bit;
        if (is) {
            candidateBits[word] |= bit;
            newCandidates = append(newCandidates, newCandidateCount++, page);
        } else {
            candidateBits[word] &= ~bit;
            newNotCandidates = append(newNotCandidates, newNotCandidateCount++, page);
        }
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
        Arrays.fill(candidateBits, 0);
        Arrays.fill(reportedBits, 0);
        Arrays.fill(recheckIn, (byte) 0);
        newCandidateCount = 0;
        newNotCandidateCount = 0;
    }

    private static long[] append(long[] array, int at, long value) {
        long[] out = at == array.length ? Arrays.copyOf(array, array.length * 2) : array;
        out[at] = value;
        return out;
    }
}
