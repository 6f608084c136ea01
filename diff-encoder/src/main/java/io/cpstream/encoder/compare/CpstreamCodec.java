package io.cpstream.encoder.compare;

import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.DeltaBaseCache;
import io.cpstream.encoder.DeltaCandidateClassifier;
import io.cpstream.encoder.DeltaFeedback;
import io.cpstream.encoder.DuplicateIndex;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.Lz4Backoff;
import io.cpstream.encoder.PageDecoder;
import io.cpstream.encoder.PageEncoder;
import io.cpstream.encoder.ReceiverPages;

import java.lang.foreign.MemorySegment;

/**
 * cpstream end to end, the way the agent and collector are meant to wire this module:
 * <ul>
 * <li>sender: {@link PageEncoder} with a {@link DuplicateIndex}, a {@link DeltaBaseCache} of candidate pages and
 *     the agent's {@link Lz4Backoff};</li>
 * <li>receiver: {@link PageDecoder}, then {@link DeltaCandidateClassifier} on every page it applies over a copy
 *     of known version, with
 *     {@link DeltaFeedback} turning verdicts into a Feedback message at each commit, which the sender accepts.</li>
 * </ul>
 */
public final class CpstreamCodec implements StreamCodec {

    /** Direct-mapped duplicate entries per page of guest memory, at most: 24 bytes each. */
    private static final int MAX_DUPLICATE_SLOTS = 1 << 20;

    private final PageEncoder encoder;
    private final DeltaBaseCache bases;
    private final DuplicateIndex duplicates;
    private final Lz4Backoff lz4Backoff;
    private final PageDecoder decoder;
    private final DeltaCandidateClassifier classifier;
    private final DeltaFeedback feedback;
    /** Per page: bytes of runs of the DELTA it arrived as in the checkpoint being applied, or -1. */
    private final int[] deltaRunBytes;

    public CpstreamCodec(int pageSize, long pageCount) {
        this(pageSize, pageCount, DeltaBaseCache.DEFAULT_BUDGET_BYTES);
    }

    public CpstreamCodec(int pageSize, long pageCount, long baseCacheBytes) {
        encoder = new PageEncoder(pageSize);
        bases = new DeltaBaseCache(pageSize, pageCount, baseCacheBytes, io.cpstream.encoder.ClockEviction::new);
        duplicates = new DuplicateIndex(pageCount, (int) Math.min(MAX_DUPLICATE_SLOTS, pageCount));
        lz4Backoff = new Lz4Backoff((int) pageCount);
        decoder = new PageDecoder(pageSize);
        classifier = new DeltaCandidateClassifier(pageSize);
        feedback = new DeltaFeedback(pageCount);
        deltaRunBytes = new int[(int) pageCount];
    }

    @Override
    public String name() {
        return "cpstream";
    }

    @Override
    public void endCheckpoint(long epoch) {
        duplicates.publish();
    }

    @Override
    public EncodedPage encode(long epoch, long page, MemorySegment content) {
        MemorySegment base = bases.base(page);
        EncodedPage record = encoder.encode(page, content, base, bases.version(page), duplicates, lz4Backoff);
        bases.sent(page, content, epoch);
        return record;
    }

    @Override
    public void decode(long epoch, long page, EncodedPage record, ReceiverPages receiver, MemorySegment dst)
            throws CorruptPageException {
        decoder.decode(page, record, receiver, dst);
        deltaRunBytes[(int) page] = decoder.lastDeltaRunBytes();
    }

    @Override
    public void applied(long page, MemorySegment held, long heldVersion, MemorySegment decoded) {
        // A copy of unknown history (before the receiver started, or what a full sync replaces) says nothing
        // about how this page changes between checkpoints: no verdict, the sender keeps it on probation.
        // As the collector does: a DELTA says how much the page changed; a page known not to be a candidate is
        // compared again only now and then.
        if (heldVersion > 0) {
            int runBytes = deltaRunBytes[(int) page];
            if (runBytes >= 0) {
                feedback.note(page, classifier.classifyDelta(runBytes));
            } else if (feedback.worthClassifying(page)) {
                feedback.note(page, classifier.classify(held, decoded));
            }
        }
    }

    @Override
    public void committed(long epoch) {
        if (feedback.hasNews()) {
            bases.acceptFeedback(feedback.drainCandidates(), feedback.drainNotCandidates());
        }
    }

    public DeltaBaseCache bases() {
        return bases;
    }

    public DeltaCandidateClassifier classifier() {
        return classifier;
    }

    @Override
    public void close() {
        bases.close();
    }
}
