package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;

/**
 * Collector side: on receiving a page, compares it with the previous version it held and says whether
 * the page is worth delta-encoding next time, i.e. whether it changed only a little. Pure: no state but
 * scratch space and counters, so the collector decides what to do with the verdicts (see
 * {@link DeltaFeedback}).
 *
 * <p>"A little" is measured in wire bytes, with the same run writer the encoder uses (without LZ4, to
 * stay cheap): a page whose delta would be at most {@code maxDeltaBytes} (default an eighth of a page)
 * is a candidate. Zero pages are not: they travel for free anyway.
 *
 * <p>Not thread-safe: one per thread.
 */
public final class DeltaCandidateClassifier {

    public enum Decision { CANDIDATE, NOT_CANDIDATE }

    /** Counters since construction or the last {@link #resetStatistics()}. */
    public record Statistics(long pages, long candidates, long notCandidates, long candidateDeltaBytes) {

        /** Mean delta size of the candidate pages: what a delta of them is expected to cost. */
        public double meanCandidateDeltaBytes() {
            return candidates == 0 ? 0 : (double) candidateDeltaBytes / candidates;
        }
    }

    private final int pageSize;
    private final int maxDeltaBytes;
    private final byte[] scratch;
    private int lastDeltaBytes;
    private long pages;
    private long candidates;
    private long candidateDeltaBytes;

    public DeltaCandidateClassifier(int pageSize) {
        this(pageSize, pageSize * 3 / 4);
    }

    public DeltaCandidateClassifier(int pageSize, int maxDeltaBytes) {
        if (maxDeltaBytes <= 0 || maxDeltaBytes >= pageSize) {
            throw new IllegalArgumentException("max delta of " + maxDeltaBytes + " bytes for pages of " + pageSize);
        }
        this.pageSize = pageSize;
        this.maxDeltaBytes = maxDeltaBytes;
        scratch = new byte[maxDeltaBytes + DeltaFormat.MAX_RUN_HEADER];
    }

    /** Classifies a page that went from {@code oldPage} to {@code newPage}. */
    public Decision classify(MemorySegment oldPage, MemorySegment newPage) {
        if (oldPage.byteSize() != pageSize || newPage.byteSize() != pageSize) {
            throw new IllegalArgumentException("pages of " + oldPage.byteSize() + " and " + newPage.byteSize()
                    + " bytes, expected " + pageSize);
        }
        pages++;
        if (ZeroPages.isZero(newPage) || DeltaRunWriter.rewrittenWholesale(newPage, oldPage, pageSize)) {
            lastDeltaBytes = -1;
            return Decision.NOT_CANDIDATE;
        }
        int end = DeltaRunWriter.writeRuns(newPage, oldPage, pageSize, scratch, 0, maxDeltaBytes);
        lastDeltaBytes = end;
        if (end < 0) {
            return Decision.NOT_CANDIDATE;
        }
        candidates++;
        candidateDeltaBytes += end;
        return Decision.CANDIDATE;
    }

    /**
     * Classifies a page that arrived as a DELTA of {@code runBytes} bytes of runs against the version the receiver
     * held: that is the plain delta {@link #classify} would compute (the sender writes runs the same way), so no
     * second pass over the page is needed. A page that arrives as a delta is never a zero page (the sender sends
     * those as ZERO).
     */
    public Decision classifyDelta(int runBytes) {
        if (runBytes < 0) {
            throw new IllegalArgumentException("negative delta size " + runBytes);
        }
        pages++;
        if (runBytes > maxDeltaBytes) {
            lastDeltaBytes = -1;
            return Decision.NOT_CANDIDATE;
        }
        lastDeltaBytes = runBytes;
        candidates++;
        candidateDeltaBytes += runBytes;
        return Decision.CANDIDATE;
    }

    /** Delta bytes (plain runs) of the last page classified, or -1 when it was too big to count. */
    public int lastDeltaBytes() {
        return lastDeltaBytes;
    }

    public Statistics statistics() {
        return new Statistics(pages, candidates, pages - candidates, candidateDeltaBytes);
    }

    public void resetStatistics() {
        pages = 0;
        candidates = 0;
        candidateDeltaBytes = 0;
    }
}
