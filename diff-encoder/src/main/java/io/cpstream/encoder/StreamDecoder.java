package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * The receiver's half of cpstream, one per stream: what the collector runs for every page record it stages, and
 * what {@code compare.CpstreamCodec} measures. It decodes and verifies each record against the receiver's
 * committed image ({@link PageDecoder}), judges how much the page changed since the version held
 * ({@link DeltaCandidateClassifier}: a DELTA by the size of its runs, without a second pass; a page last judged
 * not a candidate only on one receipt in {@value DeltaFeedback#NOT_CANDIDATE_RECHECK}), and turns the verdicts into
 * the two lists of a Feedback message ({@link DeltaFeedback}: first verdicts and changes only), which the sender
 * hands to {@link StreamEncoder#acceptFeedback}.
 *
 * <p>Not thread-safe: used by the thread that receives the stream.
 */
public final class StreamDecoder {

    private final PageDecoder decoder;
    private final DeltaCandidateClassifier classifier;
    private final DeltaFeedback feedback;

    public StreamDecoder(int pageSize, long pageCount) {
        decoder = new PageDecoder(pageSize);
        classifier = new DeltaCandidateClassifier(pageSize);
        feedback = new DeltaFeedback(pageCount);
    }

    /**
     * Decodes one record of page {@code index} into {@code dst} (scratch, never the receiver's image), verified
     * against {@code crc32c}; DELTA and DUPLICATE records refer to what {@code receiver} holds.
     *
     * @throws CorruptPageException MALFORMED, BASE_NOT_HELD or CHECKSUM_MISMATCH; {@code dst} is then garbage
     */
    public void decode(long index, PageEncoding encoding, ByteBuffer payload, int crc32c, long baseVersion,
            long sourceIndex, ReceiverPages receiver, MemorySegment dst) throws CorruptPageException {
        decoder.decode(index, encoding, payload, crc32c, baseVersion, sourceIndex, receiver, dst);
    }

    /** As {@link #decode(long, PageEncoding, ByteBuffer, int, long, long, ReceiverPages, MemorySegment)}. */
    public void decode(long index, EncodedPage record, ReceiverPages receiver, MemorySegment dst)
            throws CorruptPageException {
        decoder.decode(index, record, receiver, dst);
    }

    /** Bytes of changed runs of the last record decoded if it was a DELTA, else -1. */
    public int lastDeltaRunBytes() {
        return decoder.lastDeltaRunBytes();
    }

    /**
     * Judges page {@code index} of an incremental checkpoint, just decoded from a record of {@code encoding} with
     * {@code deltaRunBytes} (its {@link #lastDeltaRunBytes()}), against the copy the receiver {@code held} at
     * version {@code heldVersion}. A copy of unknown history (0: before the receiver started) says nothing about
     * how the page changes between checkpoints: no verdict, the sender keeps the page on probation.
     */
    public void observe(long index, PageEncoding encoding, int deltaRunBytes, long heldVersion, MemorySegment held,
            MemorySegment decoded) {
        if (heldVersion <= 0) {
            return;
        }
        if (encoding == PageEncoding.DELTA && deltaRunBytes >= 0) {
            feedback.note(index, classifier.classifyDelta(deltaRunBytes));
        } else if (feedback.worthClassifying(index)) {
            feedback.note(index, classifier.classify(held, decoded));
        }
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
    }

    /** Heap of the per-page state (verdicts), which grows with the pages judged, not with the guest. */
    public long heapBytes() {
        return feedback.heapBytes();
    }

    public DeltaCandidateClassifier classifier() {
        return classifier;
    }
}
