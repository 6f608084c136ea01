package io.cpstream.collector;

import static io.cpstream.collector.RawAgent.batch;
import static io.cpstream.collector.RawAgent.begin;
import static io.cpstream.collector.RawAgent.commit;
import static io.cpstream.collector.RawAgent.deviceState;
import static io.cpstream.collector.RawAgent.hello;
import static io.cpstream.collector.RawAgent.incremental;
import static io.cpstream.collector.RawAgent.page;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.GetVmRequest;
import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.VmStatus;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code wire_bytes_received} counts what the agent counts as its wire bytes: every Begin, PageBatch and Commit as
 * serialized, with gRPC's 5-byte message prefix (not the page payloads alone), whether the checkpoint commits or is
 * discarded; the Hello, device state and output batches are not page messages and count on neither side.
 */
class WireBytesReceivedTest {

    private static final int PAGES = 4;

    @TempDir
    Path dataDir;
    private TestCollector collector;
    private long expected;

    @BeforeEach
    void start() throws Exception {
        collector = new TestCollector(dataDir);
    }

    @AfterEach
    void stop() {
        collector.close();
    }

    /** Sends {@code message}, adding it to the expected count if it is a page message. */
    private RawAgent send(RawAgent stream, AgentMessage message, boolean counts) {
        if (counts) {
            expected += message.getSerializedSize() + 5L;
        }
        return stream.send(message);
    }

    private VmStatus status() {
        return AdminGrpc.newBlockingStub(collector.channel()).getVm(GetVmRequest.newBuilder().setVmId("vm").build());
    }

    @Test
    void countsTheSerializedPageMessagesWithTheirFraming() {
        RawAgent stream = collector.agent();
        send(stream, hello("vm", PAGES), false);
        send(stream, begin(1, true, PAGES), true);
        send(stream, batch(1, page(0, (byte) 1), page(1, (byte) 2)), true);
        send(stream, batch(1, page(2, (byte) 3), page(3, (byte) 4)), true);
        send(stream, deviceState(1, new byte[] {1, 2, 3}), false);
        send(stream, commit(1, PAGES, new byte[] {1, 2, 3}), true);
        // The standby exists once the Hello is handled: until then the admin API says NOT_FOUND.
        await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> collector.committedEpoch("vm") == 1);

        // A checkpoint on a base the standby does not hold is discarded, but it arrived: it counts.
        send(stream, incremental(5, 3, 1), true);
        send(stream, batch(5, page(2, (byte) 9)), true);
        send(stream, deviceState(5, new byte[0]), false);
        send(stream, commit(5, 1, new byte[0]), true);
        send(stream, incremental(6, 1, 1), true);
        send(stream, batch(6, page(2, (byte) 9)), true);
        send(stream, deviceState(6, new byte[0]), false);
        send(stream, commit(6, 1, new byte[0]), true);
        await().atMost(Duration.ofSeconds(30)).until(() -> collector.committedEpoch("vm") == 6);

        VmStatus status = status();
        assertEquals(expected, status.getWireBytesReceived());
        assertEquals(PAGES + 1, status.getPagesReceived());
    }
}
