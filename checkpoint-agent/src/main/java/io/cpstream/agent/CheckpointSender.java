package io.cpstream.agent;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.DeviceState;
import io.cpstream.proto.Limit;
import io.cpstream.proto.OutputBatch;
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
    static final int BATCH_PAYLOAD_BYTES = CheckpointMessages.BATCH_PAYLOAD_BYTES;

    private final BlockingQueue<CapturedCheckpoint> outbox;
    private final ReplicationState state;
    private final int pageSize;
    private final AgentMetrics metrics;
    private final AgentStats stats;
    private final CheckpointEncoder encoder;
    private final OutputGate outputs;
    private final CheckpointMessages messages;
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
        this.messages = new CheckpointMessages(pageSize);
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
        // Wire bytes: the serialized Begin, page batches and Commit, with gRPC's prefix, as bench --compare-encoders
        // counts them (device state and outputs are not pages, and cost every encoding the same).
        long wireBytes = sent(stream, messages.begin(plan.epoch(), plan.baseEpoch(), plan.full(),
                checkpoint.stunUnixMicros(), checkpoint.pauseNanos() / 1000, checkpoint.pageCount()));
        long zeroPages = 0;
        BitSet pages = plan.pages();
        int ordinal = 0;
        encoder.begin(plan);
        for (int page = pages.nextSetBit(0); page >= 0; page = pages.nextSetBit(page + 1), ordinal++) {
            EncodedPage encoded = encoder.encode(page, checkpoint.page(ordinal, pageSize));
            int payload = encoded.payloadBytes();
            if (!messages.fits(encoded)) {
                wireBytes += sent(stream, messages.take());
            }
            messages.add(page, encoded);
            if (payload == 0) {
                zeroPages++;
            }
        }
        if (!messages.isEmpty()) {
            wireBytes += sent(stream, messages.take());
        }
        encoder.end();
        byte[] deviceState = checkpoint.deviceState();
        sendDeviceState(stream, plan.epoch(), deviceState);
        // Output commit: the records this checkpoint makes committable travel with it, so a standby
        // promoted at this epoch can release whatever this primary never did.
        OutputGate.Slice slice = outputs.slice(plan.outputStart(), plan.outputEnd());
        sendOutputs(stream, plan.epoch(), slice);
        wireBytes += sent(stream, CheckpointMessages.commit(plan.epoch(), checkpoint.pageCount(), deviceState,
                slice.start(), plan.outputEnd(), slice.releasedEnd(), checkpoint.imageSha256()));
        metrics.pagesSent.increment(checkpoint.pageCount());
        metrics.wireBytes.increment(wireBytes);
        metrics.rawBytes.increment((double) checkpoint.pageCount() * pageSize);
        metrics.zeroPages.increment(zeroPages);
        stats.recordSent(checkpoint.pageCount(), wireBytes);
    }

    /** Sends {@code message}; returns its bytes on the wire (the size is computed once, gRPC reuses it). */
    private static long sent(CollectorStream stream, AgentMessage message)
            throws CollectorStream.ClosedException, InterruptedException {
        long bytes = CheckpointMessages.wireBytes(message);
        stream.send(message);
        return bytes;
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

}
