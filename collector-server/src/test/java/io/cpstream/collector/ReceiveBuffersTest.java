package io.cpstream.collector;

import static io.cpstream.collector.RawAgent.batch;
import static io.cpstream.collector.RawAgent.begin;
import static io.cpstream.collector.RawAgent.hello;
import static io.cpstream.collector.RawAgent.page;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import com.google.protobuf.ByteString;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CheckpointCommit;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.OutputBatch;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.snapshot.Snapshots;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The arrays large messages are received into are lent for one message at a time, and nothing outlives its loan. */
class ReceiveBuffersTest {

    @TempDir
    Path dataDir;

    @Test
    void anArrayIsLentToOneMessageAtATimeAndOnlyWithinBounds() {
        ReceiveBuffers buffers = new ReceiveBuffers();
        byte[] first = buffers.lend(ReceiveBuffers.SMALLEST_LENT);
        byte[] second = buffers.lend(ReceiveBuffers.BUFFER_BYTES);
        assertNotSame(first, second, "an array lent and not given back is never lent again");
        buffers.giveBack();
        assertSame(second, buffers.lend(100_000), "the array given back takes the next message");
        buffers.giveBack();
        buffers.giveBack(); // nothing lent: nothing happens
        assertEquals(100, buffers.lend(100).length, "a small message gets an array of exactly its size");
        assertEquals(ReceiveBuffers.BUFFER_BYTES + 1, buffers.lend(ReceiveBuffers.BUFFER_BYTES + 1).length,
                "a message larger than the arrays gets one of its own");
    }

    /**
     * Output records are the bytes a standby keeps across messages. Here they arrive in a message large enough to be
     * received into a lent array, and the next message (a page batch as large) is received into the same array: the
     * promoted snapshot must still hold the records as sent.
     */
    @Test
    void outputRecordsOutliveTheArrayTheyArrivedIn() throws Exception {
        int pages = 32;
        List<ByteString> records = List.of(filled(40_000, (byte) 'a'), filled(40_000, (byte) 'b'));
        try (TestCollector collector = new TestCollector(dataDir)) {
            RawAgent agent = collector.agent().send(hello("vm", pages)).send(begin(1, true, pages));
            agent.send(AgentMessage.newBuilder().setOutputs(OutputBatch.newBuilder().setEpoch(1).setStart(0)
                    .addAllRecords(records)).build());
            RawAgent.Rec[] batch = new RawAgent.Rec[pages];
            for (int i = 0; i < pages; i++) {
                batch[i] = page(i, (byte) 'z');
            }
            agent.send(batch(1, batch));
            byte[] state = new byte[0];
            agent.send(RawAgent.deviceState(1, state)).send(AgentMessage.newBuilder().setCommit(CheckpointCommit
                    .newBuilder().setEpoch(1).setPageCount(pages).setDeviceStateBytes(0)
                    .setDeviceStateSha256(ByteString.copyFrom(ImageDigest.sha256(state)))
                    .setOutputStart(0).setOutputEnd(2)).build());
            agent.awaitAnswer(CollectorMessage::hasAck);
            PromoteResponse promoted = collector.promote("vm", true);
            List<byte[]> kept = Snapshots.readManifest(Path.of(promoted.getSnapshotPath())).outputs().records();
            assertEquals(2, kept.size());
            for (int i = 0; i < 2; i++) {
                assertArrayEquals(records.get(i).toByteArray(), kept.get(i), "output record " + i);
            }
        }
    }

    private static ByteString filled(int size, byte fill) {
        byte[] bytes = new byte[size];
        Arrays.fill(bytes, fill);
        return ByteString.copyFrom(bytes);
    }
}
