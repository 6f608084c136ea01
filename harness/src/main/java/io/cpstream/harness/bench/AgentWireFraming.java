package io.cpstream.harness.bench;

import io.cpstream.agent.CheckpointMessages;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.compare.Checkpoint;
import io.cpstream.encoder.compare.WireFraming;

/**
 * The bytes the agent puts on the wire for a checkpoint's pages: its Begin, its PageBatches and its Commit, built
 * by the agent's own {@link CheckpointMessages} from the very records the codec produced, each counted as its
 * serialized size plus gRPC's 5-byte message prefix. The device state and output batches are left out: they are
 * not pages, and cost every encoding the same.
 */
final class AgentWireFraming implements WireFraming {

    private static final byte[] NO_DEVICE_STATE = new byte[0];

    private final CheckpointMessages messages;
    private Checkpoint checkpoint;
    private long bytes;

    AgentWireFraming(int pageSize) {
        messages = new CheckpointMessages(pageSize);
    }

    @Override
    public void beginCheckpoint(Checkpoint checkpoint) {
        this.checkpoint = checkpoint;
        long epoch = checkpoint.epoch();
        bytes = CheckpointMessages.wireBytes(messages.begin(epoch, epoch - 1, checkpoint.fullSync(),
                System.currentTimeMillis() * 1000, 50, checkpoint.pages().length));
    }

    @Override
    public void page(long index, EncodedPage record) {
        if (!messages.fits(record)) {
            bytes += CheckpointMessages.wireBytes(messages.take());
        }
        messages.add(index, record);
    }

    @Override
    public long endCheckpoint() {
        if (!messages.isEmpty()) {
            bytes += CheckpointMessages.wireBytes(messages.take());
        }
        return bytes + CheckpointMessages.wireBytes(CheckpointMessages.commit(checkpoint.epoch(),
                checkpoint.pages().length, NO_DEVICE_STATE, 0, 0, 0, null));
    }
}
