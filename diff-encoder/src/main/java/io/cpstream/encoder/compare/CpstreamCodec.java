package io.cpstream.encoder.compare;

import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.DeltaBaseCache;
import io.cpstream.encoder.DeltaCandidateClassifier;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.PageBatchCheck;
import io.cpstream.encoder.ReceiverPages;
import io.cpstream.encoder.StreamDecoder;
import io.cpstream.encoder.StreamEncoder;

import java.lang.foreign.MemorySegment;

/**
 * cpstream end to end, with exactly the two halves the agent and the collector run: {@link StreamEncoder} on the
 * sender, {@link StreamDecoder} on the receiver, its Feedback handed to the sender at each commit (the agent gets
 * it one round trip later, which the comparison does not model). The receiver judges each page as it decodes it and
 * checks the checkpoint's pages as one batch ({@link PageBatchCheck}) before any applies; the agent cuts a checkpoint
 * into batches of at most 1 MiB, each with its own check, which the wire framing counts.
 */
public final class CpstreamCodec implements StreamCodec {

    private final StreamEncoder encoder;
    private final StreamDecoder decoder;
    /** The sender's fold of the CRC-32Cs of the checkpoint's pages, as the agent's PageBatch carries it. */
    private final PageBatchCheck sent = new PageBatchCheck();

    public CpstreamCodec(int pageSize, long pageCount) {
        this(pageSize, pageCount, DeltaBaseCache.DEFAULT_BUDGET_BYTES);
    }

    public CpstreamCodec(int pageSize, long pageCount, long baseCacheBytes) {
        encoder = new StreamEncoder(pageSize, Math.toIntExact(pageCount), baseCacheBytes);
        decoder = new StreamDecoder(pageSize, pageCount);
    }

    @Override
    public String name() {
        return "cpstream";
    }

    @Override
    public void beginCheckpoint(Checkpoint checkpoint) {
        encoder.begin(checkpoint.epoch());
        sent.reset();
        decoder.beginBatch();
    }

    @Override
    public void endCheckpoint(long epoch) {
        encoder.end();
    }

    @Override
    public EncodedPage encode(long epoch, long page, MemorySegment content) {
        EncodedPage record = encoder.encode(page, content);
        sent.add(record.crc32c());
        return record;
    }

    /** As the collector does: rebuild into scratch, then judge the page against the committed copy. */
    @Override
    public void decode(long epoch, long page, EncodedPage record, ReceiverPages receiver, MemorySegment dst)
            throws CorruptPageException {
        decoder.decode(page, record.encoding(), record.payload(), record.baseVersion(), record.sourceIndex(), receiver,
                dst);
        decoder.observe(page, record.encoding(), decoder.lastDeltaRunBytes(), receiver.version(page),
                receiver.page(page), dst);
    }

    @Override
    public void decoded(long epoch) throws CorruptPageException {
        decoder.endBatch(sent.value());
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
