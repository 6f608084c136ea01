package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The receiver's half of cpstream, one per stream: what the collector runs for every page record it stages, and
 * what {@code compare.CpstreamCodec} measures. It rebuilds each record against the receiver's committed image
 * ({@link PageDecoder}) and checks a batch of them at once ({@link PageBatchCheck}: the pages' CRC-32Cs folded, against
 * the value the sender folded); judges how much each page changed since the version held
 * ({@link DeltaCandidateClassifier}: a DELTA by the size of its runs, without a second pass; a page last judged
 * not a candidate only on one receipt in {@value DeltaFeedback#NOT_CANDIDATE_RECHECK}), and turns the verdicts of
 * batches that verified into the two lists of a Feedback message ({@link DeltaFeedback}: first verdicts and changes
 * only), which the sender hands to {@link StreamEncoder#acceptFeedback}.
 * <pre>
 * beginBatch() · (decode(record) · observe(page))* · endBatch(check)       no page of a batch applies before its end
 * </pre>
 *
 * <p>Not thread-safe: used by the thread that receives the stream.
 */
public final class StreamDecoder {

    private final PageDecoder decoder;
    private final DeltaCandidateClassifier classifier;
    private final DeltaFeedback feedback;
    private final PageBatchCheck check = new PageBatchCheck();
    /** Verdicts on the pages of the open batch, noted only once it verifies. */
    private long[] pendingPages = new long[64];
    private boolean[] pendingCandidate = new boolean[64];
    private int pending;

    public StreamDecoder(int pageSize, long pageCount) {
        decoder = new PageDecoder(pageSize);
        classifier = new DeltaCandidateClassifier(pageSize);
        feedback = new DeltaFeedback(pageCount);
    }

    /** A batch of records begins: its pages' checksums are folded afresh. */
    public void beginBatch() {
        check.reset();
        pending = 0;
    }

    /**
     * Rebuilds one record of page {@code index} into {@code dst} (scratch, never the receiver's image) and folds its
     * CRC-32C into the open batch's check; DELTA and DUPLICATE records refer to what {@code receiver} holds. The page
     * may be applied only once {@link #endBatch} has verified the batch.
     *
     * @throws CorruptPageException MALFORMED or BASE_NOT_HELD; {@code dst} is then garbage
     */
    public void decode(long index, PageEncoding encoding, ByteBuffer payload, long baseVersion, long sourceIndex,
            ReceiverPages receiver, MemorySegment dst) throws CorruptPageException {
        check.add(decoder.rebuild(index, encoding, payload, baseVersion, sourceIndex, receiver, dst));
    }

    /**
     * Every record of the open batch was decoded: throws CHECKSUM_MISMATCH unless their pages fold to
     * {@code expectedCheck} (the sender's {@link PageBatchCheck#value()}), in which case none of them may be applied;
     * otherwise the batch's verdicts count.
     */
    public void endBatch(long expectedCheck) throws CorruptPageException {
        int pages = check.pages();
        long actual = check.value();
        int verdicts = pending;
        pending = 0;
        check.reset();
        if (actual != expectedCheck) {
            throw new CorruptPageException(CorruptPageException.Reason.CHECKSUM_MISMATCH, String.format(
                    "checksum mismatch: the %d pages of the batch fold to %016x, the sender's to %016x", pages,
                    actual, expectedCheck));
        }
        for (int i = 0; i < verdicts; i++) {
            feedback.note(pendingPages[i], pendingCandidate[i] ? DeltaCandidateClassifier.Decision.CANDIDATE
                    : DeltaCandidateClassifier.Decision.NOT_CANDIDATE);
        }
    }

    /** Bytes of changed runs of the last record decoded if it was a DELTA or DELTA_LZ4, else -1. */
    public int lastDeltaRunBytes() {
        return decoder.lastDeltaRunBytes();
    }

    /**
     * Judges page {@code index} of an incremental checkpoint, just decoded from a record of {@code encoding} with
     * {@code deltaRunBytes} (its {@link #lastDeltaRunBytes()}), against the copy the receiver {@code held} at
     * version {@code heldVersion}; the verdict counts once the batch verifies. A copy of unknown history (0: before
     * the receiver started) says nothing about how the page changes between checkpoints: no verdict, the sender keeps
     * the page on probation.
     */
    public void observe(long index, PageEncoding encoding, int deltaRunBytes, long heldVersion, MemorySegment held,
            MemorySegment decoded) {
        if (heldVersion <= 0) {
            return;
        }
        DeltaCandidateClassifier.Decision decision;
        if (encoding.isDelta() && deltaRunBytes >= 0) {
            decision = classifier.classifyDelta(deltaRunBytes);
        } else if (feedback.worthClassifying(index)) {
            decision = classifier.classify(held, decoded);
        } else {
            return;
        }
        if (pending == pendingPages.length) {
            pendingPages = Arrays.copyOf(pendingPages, pending * 2);
            pendingCandidate = Arrays.copyOf(pendingCandidate, pending * 2);
        }
        pendingPages[pending] = index;
        pendingCandidate[pending++] = decision == DeltaCandidateClassifier.Decision.CANDIDATE;
    }

    /** Whether verdicts changed since they were last drained. */
    public boolean hasNews() {
        return feedback.hasNews();
    }

    /** Pages newly judged delta candidates since the last call. */
    public long[] drainCandidates() {
        return feedback.drainCandidates();
    }

    /** Pages newly judged not candidates since the last call. */
    public long[] drainNotCandidates() {
        return feedback.drainNotCandidates();
    }

    /** A new stream (maybe a new sender, which knows no verdicts): every page is unjudged again. */
    public void reset() {
        feedback.reset();
        beginBatch();
    }

    /** Heap of the per-page state (verdicts), which grows with the pages judged, not with the guest. */
    public long heapBytes() {
        return feedback.heapBytes();
    }

    public DeltaCandidateClassifier classifier() {
        return classifier;
    }
}
