package io.cpstream.encoder.compare;

import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.DeltaBaseCache;
import io.cpstream.encoder.DeltaCandidateClassifier;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.ReceiverPages;
import io.cpstream.encoder.StreamDecoder;
import io.cpstream.encoder.StreamEncoder;

import java.lang.foreign.MemorySegment;

/**
 * cpstream end to end, with exactly the two halves the agent and the collector run: {@link StreamEncoder} on the
 * sender, {@link StreamDecoder} on the receiver, its Feedback handed to the sender at each commit (the agent gets
 * it one round trip later, which the comparison does not model).
 */
public final class CpstreamCodec implements StreamCodec {

    private final StreamEncoder encoder;
    private final StreamDecoder decoder;
    /** Per page: bytes of runs of the DELTA it arrived as in the checkpoint being applied, or -1. */
    private final int[] deltaRunBytes;
    /** Per page: the encoding it arrived as in the checkpoint being applied. */
    private final io.cpstream.encoder.PageEncoding[] arrivedAs;

    public CpstreamCodec(int pageSize, long pageCount) {
        this(pageSize, pageCount, DeltaBaseCache.DEFAULT_BUDGET_BYTES);
    }

    public CpstreamCodec(int pageSize, long pageCount, long baseCacheBytes) {
        encoder = new StreamEncoder(pageSize, Math.toIntExact(pageCount), baseCacheBytes);
        decoder = new StreamDecoder(pageSize, pageCount);
        deltaRunBytes = new int[(int) pageCount];
        arrivedAs = new io.cpstream.encoder.PageEncoding[(int) pageCount];
    }

    @Override
    public String name() {
        return "cpstream";
    }

    @Override
    public void beginCheckpoint(Checkpoint checkpoint) {
        encoder.begin(checkpoint.epoch());
    }

    @Override
    public void endCheckpoint(long epoch) {
        encoder.end();
    }

    @Override
    public EncodedPage encode(long epoch, long page, MemorySegment content) {
        return encoder.encode(page, content);
    }

    @Override
    public void decode(long epoch, long page, EncodedPage record, ReceiverPages receiver, MemorySegment dst)
            throws CorruptPageException {
        decoder.decode(page, record, receiver, dst);
        deltaRunBytes[(int) page] = decoder.lastDeltaRunBytes();
        arrivedAs[(int) page] = record.encoding();
    }

    @Override
    public void applied(long page, MemorySegment held, long heldVersion, MemorySegment decoded) {
        decoder.observe(page, arrivedAs[(int) page], deltaRunBytes[(int) page], heldVersion, held, decoded);
    }

    @Override
    public void committed(long epoch) {
        if (decoder.hasNews()) {
            encoder.acceptFeedback(decoder.drainCandidates(), decoder.drainNotCandidates());
        }
    }

    public DeltaBaseCache bases() {
        return encoder.bases();
    }

    public DeltaCandidateClassifier classifier() {
        return decoder.classifier();
    }

    @Override
    public void close() {
        encoder.close();
    }
}
