package io.cpstream.e2e;

import static io.cpstream.e2e.Replication.awaitAcked;
import static io.cpstream.e2e.Replication.sim;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.output.OutputSink;
import io.cpstream.collector.CollectorServer;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.proto.Limit;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.snapshot.CommittedOutputs;
import io.cpstream.tracker.ForwardingSource;
import io.cpstream.tracker.ForwardingStun;
import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.Stun;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What may exceed one message crosses in several, within the limits the proto states: a device state of many
 * megabytes, and as much held output as a standby keeps, in the one checkpoint that carries all of it (a full
 * sync after the standby changed). Before, either made the agent stop for good.
 */
class ProtocolLimitsTest {

    @TempDir
    Path dir;

    @Test
    void theProtocolsLimitsAreTheSourcesLimits() {
        assertEquals(MemorySource.MAX_DEVICE_STATE_BYTES, Limit.MAX_DEVICE_STATE_BYTES_VALUE);
        assertEquals(MemorySource.MAX_OUTPUT_RECORD_BYTES, Limit.MAX_OUTPUT_RECORD_BYTES_VALUE);
        assertEquals(CommittedOutputs.MAX_RECORD_BYTES, Limit.MAX_OUTPUT_RECORD_BYTES_VALUE);
        assertEquals(CommittedOutputs.MAX_BYTES, Limit.MAX_HELD_OUTPUT_BYTES_VALUE);
    }

    @Test
    void aDeviceStateLargerThanAMessageCrossesInChunks() throws Exception {
        int stateBytes = 6 << 20;
        try (CollectorServer collector = Replication.collector(dir.resolve("data"), new SimpleMeterRegistry());
             Agent agent = Replication.agent(collector.port(), "bulky",
                     new BulkyGuest(sim("mem=4m,workload=uniform,rate=2000,outputs=0"), stateBytes, 0))) {
            awaitAcked(agent, 3);
            assertNull(agent.failure());
            PromoteResponse promoted;
            try (AdminClient admin = new AdminClient("127.0.0.1:" + collector.port())) {
                promoted = admin.promote("bulky", true);
            }
            byte[] state = Files.readAllBytes(Path.of(promoted.getSnapshotPath()).resolve("device-state.bin"));
            assertEquals(stateBytes, state.length);
            assertArrayEquals(BulkyGuest.deviceState(stateBytes, state[0]), state, "the device state of one stun, whole");
            assertEquals(promoted.getPrimaryImageSha256(), promoted.getImageSha256());
        }
    }

    @Test
    void asMuchHeldOutputAsAStandbyKeepsCrossesInBatches() throws Exception {
        int record = Limit.MAX_OUTPUT_RECORD_BYTES_VALUE - 1024;
        BulkyGuest guest = new BulkyGuest(sim("mem=4m,workload=uniform,rate=2000,outputs=0"), 64, record);
        CountDownLatch never = new CountDownLatch(1);
        OutputSink stuck = new OutputSink() { // the outside world does not take output: the agent holds it
            @Override
            public long open(String vm, long fencingEpoch) {
                return NO_HISTORY;
            }

            @Override
            public void write(long first, List<byte[]> records) throws java.io.IOException {
                try {
                    never.await();
                } catch (InterruptedException e) {
                    throw new java.io.InterruptedIOException();
                }
            }

            @Override
            public void close() {
                never.countDown();
            }
        };
        long held = Limit.MAX_HELD_OUTPUT_BYTES_VALUE;
        Path first = dir.resolve("first");
        Path second = dir.resolve("second");
        try (CollectorServer collector = Replication.collector(first, new SimpleMeterRegistry())) {
            int port = collector.port();
            AgentConfig config = AgentConfig.of("127.0.0.1:" + port, "chatty").withVerify(true)
                    .withMaxPendingOutputBytes(held);
            try (Agent agent = new Agent(config, guest, new SimpleMeterRegistry(), stuck)) {
                agent.start();
                org.awaitility.Awaitility.await().atMost(Replication.PATIENCE)
                        .until(() -> guest.taken() * (long) record > held - 2L * record);
                collector.close();
                // The same address, a standby that holds nothing: the next checkpoint is full, with every held output.
                try (CollectorServer fresh = Replication.collector(second, port, new SimpleMeterRegistry())) {
                    awaitAcked(agent, 3);
                    assertNull(agent.failure());
                    try (AdminClient admin = new AdminClient("127.0.0.1:" + fresh.port())) {
                        assertTrue(admin.get("chatty").getOutputEnd() >= guest.taken() - 1, "the standby holds them");
                    }
                }
            }
        }
    }

    /**
     * A sim guest with a device state of {@code stateBytes} (filled with the stun's count) and, if
     * {@code recordBytes} > 0, output records of that size, as fast as they are taken.
     */
    private static final class BulkyGuest extends ForwardingSource {
        private final int stateBytes;
        private final int recordBytes;
        private long stuns;
        private long taken;

        BulkyGuest(MemorySource guest, int stateBytes, int recordBytes) {
            super(guest);
            this.stateBytes = stateBytes;
            this.recordBytes = recordBytes;
        }

        static byte[] deviceState(int bytes, byte fill) {
            byte[] state = new byte[bytes];
            Arrays.fill(state, fill);
            return state;
        }

        synchronized long taken() {
            return taken;
        }

        @Override
        public synchronized List<GuestOutput> pollOutputs(long maxBytes) {
            List<GuestOutput> outputs = new ArrayList<>();
            if (recordBytes > 0) {
                for (long bytes = recordBytes; bytes <= maxBytes && outputs.size() < 8; bytes += recordBytes) {
                    outputs.add(new GuestOutput(stuns + 1, taken++, new byte[recordBytes]));
                }
            }
            return outputs;
        }

        @Override
        public Stun stun() {
            Stun inner = guest().stun();
            byte fill;
            synchronized (this) {
                fill = (byte) ++stuns;
            }
            return new ForwardingStun(inner) {
                @Override
                public byte[] deviceState() {
                    return BulkyGuest.deviceState(stateBytes, fill);
                }
            };
        }
    }
}
