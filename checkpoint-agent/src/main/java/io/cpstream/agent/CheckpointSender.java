package io.cpstream.agent;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CheckpointBegin;
import io.cpstream.proto.CheckpointCommit;
import io.cpstream.proto.DeviceState;
import io.cpstream.proto.Limit;
import io.cpstream.proto.OutputBatch;
import io.cpstream.proto.Page;
import io.cpstream.proto.PageBatch;
import java.util.BitSet;
import java.util.concurrent.BlockingQueue;

/**
 * Streams captured checkpoints in order: Begin, page batches, device state chunks, output batches, Commit, each
 * message within the protocol's limits ({@link Limit}). Drops checkpoints planned under an older connection
 * state; the next plan covers their pages. Each page's encoding is the {@link CheckpointEncoder}'s choice.
 */
final class CheckpointSender implements Runnable, AutoCloseable {

    private static final System.Logger LOG = System.getLogger(CheckpointSender.class.getName());
    /** Page payload per batch message; keeps any one message from monopolising the stream. */
    static final int BATCH_PAYLOAD_BYTES = Limit.MAX_PAGE_BATCH_PAYLOAD_BYTES_VALUE;

    private final BlockingQueue<CapturedCheckpoint> outbox;
    private final ReplicationState state;
    private final int pageSize;
    private final AgentMetrics metrics;
    private final AgentStats stats;
    private final CheckpointEncoder encoder;
    private final OutputGate outputs;
    private final BatchPayloads payloads;
    private volatile boolean running = true;

    CheckpointSender(BlockingQueue<CapturedCheckpoint> outbox, ReplicationState state, int pageSize, int pageCount,
                     AgentConfig config, AgentMetrics metrics, AgentStats stats, OutputGate outputs) {
        this.outputs = outputs;
        this.outbox = outbox;
        this.state = state;
        this.pageSize = pageSize;
        this.metrics = metrics;
        this.stats = stats;
        this.encoder = new CheckpointEncoder(config.encoding(), pageSize, pageCount, config.deltaCacheBytes(), metrics);
        // A batch is cut before it would pass the limit, but its first payload may be a whole page (or a
        // little more, for an encoding that did not pay).
        this.payloads = new BatchPayloads(BATCH_PAYLOAD_BYTES + 2 * pageSize);
    }

    /** Where Welcome, Resync and Feedback go to keep the encoder's view of the collector right. */
    CheckpointEncoder encoder() {
        return encoder;
    }

    /** Frees the delta base cache; call once the sender's thread has ended. */
    @Override
    public void close() {
        encoder.close();
    }

    void stop() {
        running = false;
    }

    @Override
    public void run() {
        try {
            while (running) {
                CapturedCheckpoint checkpoint = outbox.take();
                try (StagingPool.Lease ignored = checkpoint.staging()) {
                    CollectorStream stream = state.streamFor(checkpoint.plan().generation());
                    if (stream == null) {
                        continue;
                    }
                    send(stream, checkpoint);
                } catch (CollectorStream.ClosedException e) {
                    LOG.log(System.Logger.Level.DEBUG, "stream closed while sending epoch {0}: {1}",
                            checkpoint.plan().epoch(), e.status);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void send(CollectorStream stream, CapturedCheckpoint checkpoint)
            throws CollectorStream.ClosedException, InterruptedException {
        CheckpointPlan plan = checkpoint.plan();
        stream.send(AgentMessage.newBuilder().setBegin(CheckpointBegin.newBuilder()
                .setEpoch(plan.epoch())
                .setBaseEpoch(plan.baseEpoch())
                .setFull(plan.full())
                .setStunUnixMicros(checkpoint.stunUnixMicros())
                .setStunMicros(checkpoint.pauseNanos() / 1000)
                .setPageCount(checkpoint.pageCount())).build());
        payloads.clear(); // each checkpoint starts afresh: a send that failed midway left its batch behind
        PageBatch.Builder batch = PageBatch.newBuilder().setEpoch(plan.epoch());
        long batchBytes = 0;
        long wireBytes = 0;
        long zeroPages = 0;
        BitSet pages = plan.pages();
        int ordinal = 0;
        encoder.begin(plan);
        for (int page = pages.nextSetBit(0); page >= 0; page = pages.nextSetBit(page + 1), ordinal++) {
            EncodedPage encoded = encoder.encode(page, checkpoint.page(ordinal, pageSize));
            int payload = encoded.payloadBytes();
            if ((batchBytes + payload > BATCH_PAYLOAD_BYTES || batch.getPagesCount() == Limit.MAX_PAGES_PER_BATCH_VALUE)
                    && batch.getPagesCount() > 0) {
                sendBatch(stream, batch);
                batch = PageBatch.newBuilder().setEpoch(plan.epoch());
                batchBytes = 0;
            }
            batch.addPages(Page.newBuilder()
                    .setIndex(page)
                    .setEncodingValue(encoded.encoding().wireNumber())
                    .setData(wireData(encoded))
                    .setCrc32C(encoded.crc32c())
                    .setBaseVersion(encoded.baseVersion())
                    .setSourceIndex(encoded.sourceIndex()));
            batchBytes += payload;
            wireBytes += payload;
            if (payload == 0) {
                zeroPages++;
            }
        }
        if (batch.getPagesCount() > 0) {
            sendBatch(stream, batch);
        }
        encoder.end();
        byte[] deviceState = checkpoint.deviceState();
        sendDeviceState(stream, plan.epoch(), deviceState);
        // Output commit: the records this checkpoint makes committable travel with it, so a standby
        // promoted at this epoch can release whatever this primary never did.
        long releasedEnd = outputs.releasedEnd();
        OutputGate.Slice slice = outputs.slice(plan.outputStart(), plan.outputEnd());
        sendOutputs(stream, plan.epoch(), slice);
        CheckpointCommit.Builder commit = CheckpointCommit.newBuilder()
                .setEpoch(plan.epoch())
                .setPageCount(checkpoint.pageCount())
                .setDeviceStateBytes(deviceState.length)
                .setDeviceStateSha256(ByteString.copyFrom(ImageDigest.sha256(deviceState)))
                .setOutputStart(slice.start())
                .setOutputEnd(plan.outputEnd())
                .setReleasedOutputEnd(releasedEnd);
        if (checkpoint.imageSha256() != null) {
            commit.setExpectedImageSha256(ByteString.copyFrom(checkpoint.imageSha256()));
        }
        stream.send(AgentMessage.newBuilder().setCommit(commit).build());
        metrics.pagesSent.increment(checkpoint.pageCount());
        metrics.wireBytes.increment(wireBytes);
        metrics.rawBytes.increment((double) checkpoint.pageCount() * pageSize);
        metrics.zeroPages.increment(zeroPages);
        stats.recordSent(checkpoint.pageCount(), wireBytes);
    }

    /** The device state in chunks of at most {@link Limit#MAX_CHUNK_BYTES}; at least one, even when it is empty. */
    private static void sendDeviceState(CollectorStream stream, long epoch, byte[] state)
            throws CollectorStream.ClosedException, InterruptedException {
        if (state.length > Limit.MAX_DEVICE_STATE_BYTES_VALUE) {
            throw new IllegalStateException("the source's device state of " + state.length + " bytes exceeds the "
                    + "protocol's " + Limit.MAX_DEVICE_STATE_BYTES_VALUE);
        }
        int offset = 0;
        do {
            int chunk = Math.min(Limit.MAX_CHUNK_BYTES_VALUE, state.length - offset);
            stream.send(AgentMessage.newBuilder().setDeviceState(DeviceState.newBuilder()
                    .setEpoch(epoch)
                    .setOffset(offset)
                    .setState(ByteString.copyFrom(state, offset, chunk))).build());
            offset += chunk;
        } while (offset < state.length);
    }

    /** The output records a checkpoint carries, in batches of at most {@link Limit#MAX_CHUNK_BYTES}. */
    private static void sendOutputs(CollectorStream stream, long epoch, OutputGate.Slice slice)
            throws CollectorStream.ClosedException, InterruptedException {
        OutputBatch.Builder batch = OutputBatch.newBuilder().setEpoch(epoch).setStart(slice.start());
        long bytes = 0;
        for (byte[] record : slice.records()) {
            if (bytes + record.length > Limit.MAX_CHUNK_BYTES_VALUE && batch.getRecordsCount() > 0) {
                stream.send(AgentMessage.newBuilder().setOutputs(batch).build());
                batch = OutputBatch.newBuilder().setEpoch(epoch).setStart(batch.getStart() + batch.getRecordsCount());
                bytes = 0;
            }
            batch.addRecords(UnsafeByteOperations.unsafeWrap(record));
            bytes += record.length;
        }
        if (batch.getRecordsCount() > 0) {
            stream.send(AgentMessage.newBuilder().setOutputs(batch).build());
        }
    }

    /** Sends a batch; once sent, its payloads' bytes are on the transport and their array may be reused. */
    private void sendBatch(CollectorStream stream, PageBatch.Builder batch)
            throws CollectorStream.ClosedException, InterruptedException {
        stream.send(AgentMessage.newBuilder().setPages(batch).build());
        payloads.clear();
    }

    /**
     * A page's payload, copied into the batch's {@link BatchPayloads}: it is a view of the staging buffer (FULL)
     * or of the encoder's scratch space (reused by the next page), and protobuf would copy a view of
     * off-heap memory into a fresh array anyway.
     */
    private ByteString wireData(EncodedPage encoded) {
        return encoded.payloadBytes() == 0 ? ByteString.EMPTY : payloads.hold(encoded.payload());
    }
}
