package io.cpstream.e2e;

import static io.cpstream.e2e.Replication.awaitAcked;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.output.FileOutputSink;
import io.cpstream.agent.output.OutputLog;
import io.cpstream.agent.output.OutputSink;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.snapshot.Snapshots;
import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.PromoteRequest;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmStatus;
import io.cpstream.proto.GetVmRequest;
import io.cpstream.tracker.MemorySource;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Output commit, leases and fenced promotion over real loopback TCP: output leaves the primary only
 * once the checkpoint holding its cause is committed and only while the primary holds its lease; a
 * promotion never yields two primaries.
 */
class OutputCommitTest {

    private static final String GUEST = "mem=2m,rate=5000,outputs=2000";

    @TempDir
    Path dataDir;

    @Test
    void outputIsReleasedOnlyAfterItsCheckpointIsCommitted() throws Exception {
        Path sinkFile = dataDir.resolve("released.log");
        try (CollectorServer collector = collector(Duration.ofSeconds(2));
             MemorySource guest = Replication.sim(GUEST);
             Agent agent = agent(collector, "vm", guest, "file:" + sinkFile);
             Admin admin = new Admin(collector.port())) {
            for (int sample = 0; sample < 20; sample++) {
                Thread.sleep(50);
                // Read the sink first and the standby second: both only grow, so released <= committed must hold.
                long released = OutputLog.read(sinkFile, "vm").size();
                long committed = admin.status("vm").getOutputEnd();
                assertTrue(released <= committed, "released " + released + " outputs, committed only " + committed);
            }
            await().atMost(Replication.PATIENCE).until(() -> agent.outputsReleased() > 100);
            agent.close();
            assertContiguousCounterSequence(OutputLog.read(sinkFile, "vm"), 0);
        }
    }

    @Test
    void anAgentThatCannotRenewItsLeaseStopsReleasingAtOnce() throws Exception {
        Path sinkFile = dataDir.resolve("released.log");
        CollectorServer collector = collector(Duration.ofSeconds(5));
        try (MemorySource guest = Replication.sim(GUEST);
             Agent agent = agent(collector, "vm", guest, "file:" + sinkFile)) {
            await().atMost(Replication.PATIENCE).until(() -> agent.outputsReleased() > 50 && agent.holdsLease());
            collector.close(); // the link breaks well inside the 5 s lease
            await().atMost(Replication.PATIENCE).until(() -> !agent.connected());
            assertFalse(agent.holdsLease(), "a broken link revokes the lease at once, not when it would run out");
            long releasedAtLoss = agent.outputsReleased();
            Thread.sleep(1000);
            assertEquals(releasedAtLoss, agent.outputsReleased(), "no output released without a lease");
            assertEquals(releasedAtLoss, OutputLog.read(sinkFile, "vm").size());
        } finally {
            collector.close();
        }
    }

    @Test
    void promotionWaitsForTheLeaseAndFencesTheOldPrimaryEverywhere() throws Exception {
        Path sinkFile = dataDir.resolve("released.log");
        try (CollectorServer collector = collector(Duration.ofMillis(1500));
             MemorySource guest = Replication.sim(GUEST);
             Agent agent = agent(collector, "vm", guest, "file:" + sinkFile);
             Admin admin = new Admin(collector.port())) {
            awaitAcked(agent, 20);
            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> admin.promote("vm", false));
            assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
            assertTrue(refused.getStatus().getDescription().contains("still holds its lease"), refused.getMessage());

            PromoteResponse promoted = admin.promote("vm", true);
            await().atMost(Replication.PATIENCE).until(() -> agent.failure() != null);
            assertTrue(agent.failure().getDescription().contains("fenced"), agent.failure().toString());

            // The snapshot holds every output the old primary may not have released.
            Snapshots.SnapshotManifest snapshot = Snapshots.readManifest(Path.of(promoted.getSnapshotPath()));
            List<OutputLog.Record> released = OutputLog.read(sinkFile, "vm");
            assertEquals(promoted.getOutputEnd(), snapshot.outputs().end());
            assertTrue(released.size() <= snapshot.outputs().end(), "released beyond the promoted epoch");
            assertTrue(snapshot.outputs().start() <= released.size(), "the snapshot lacks outputs never released");

            // The successor takes the sink over at the new fencing epoch; the old primary is refused there too.
            try (FileOutputSink successor = new FileOutputSink(sinkFile);
                 FileOutputSink old = new FileOutputSink(sinkFile)) {
                long next = successor.open("vm", promoted.getFencingEpoch());
                assertEquals(released.size(), next);
                assertThrows(OutputSink.FencedException.class, () -> old.open("vm", promoted.getFencingEpoch() - 1));
                List<byte[]> pending = snapshot.outputs().records().subList((int) (next - snapshot.outputs().start()),
                        snapshot.outputs().records().size());
                successor.write(next, pending);
                long end = next + pending.size();
                assertThrows(OutputSink.OutputGapException.class, () -> successor.write(end - 1, List.of(counter(end))),
                        "a record is never accepted twice");
            }
            assertContiguousCounterSequence(OutputLog.read(sinkFile, "vm"), 0);
            assertEquals(promoted.getOutputEnd(), OutputLog.read(sinkFile, "vm").size());
        }
    }

    @Test
    void concurrentPromotionsOfOneVmHaveExactlyOneWinner() throws Exception {
        try (CollectorServer collector = collector(Duration.ofMillis(300));
             MemorySource guest = Replication.sim(GUEST)) {
            try (Agent agent = agent(collector, "vm", guest, "none")) {
                awaitAcked(agent, 10);
            }
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try (Admin admin = new Admin(collector.port())) {
                await().atMost(Replication.PATIENCE).until(() -> admin.status("vm").getLeaseRemainingMs() == 0);
                CountDownLatch go = new CountDownLatch(1);
                List<Future<Status.Code>> attempts = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    attempts.add(pool.submit(() -> {
                        go.await();
                        try {
                            admin.promote("vm", false);
                            return Status.Code.OK;
                        } catch (StatusRuntimeException e) {
                            return e.getStatus().getCode();
                        }
                    }));
                }
                go.countDown();
                int winners = 0;
                for (Future<Status.Code> attempt : attempts) {
                    Status.Code code = attempt.get();
                    if (code == Status.Code.OK) {
                        winners++;
                    } else {
                        assertEquals(Status.Code.ALREADY_EXISTS, code);
                    }
                }
                assertEquals(1, winners);
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void theAutomaticPolicyPromotesOnlyAfterSilenceAndTheLeaseRunningOut() throws Exception {
        try (CollectorServer collector = CollectorServer.start(CollectorConfig.of("127.0.0.1", 0, dataDir)
                .withLease(Duration.ofMillis(500)).withAutoPromoteAfter(Duration.ofMillis(1500)), new SimpleMeterRegistry());
             MemorySource guest = Replication.sim(GUEST);
             Admin admin = new Admin(collector.port())) {
            try (Agent agent = agent(collector, "vm", guest, "none")) {
                awaitAcked(agent, 10);
                Thread.sleep(2000); // longer than the silence threshold, but the primary keeps talking
                assertEquals(io.cpstream.proto.VmState.VM_REPLICATING, admin.status("vm").getState());
            }
            // The primary is gone: after the silence (and its lease) the standby is promoted without an operator.
            await().atMost(Replication.PATIENCE).until(() -> admin.status("vm").getState()
                    == io.cpstream.proto.VmState.VM_PROMOTED);
            assertTrue(admin.status("vm").getSilentMs() >= 1500, admin.status("vm").toString());
        }
    }

    @Test
    void aSinkRefusesPrimariesBelowTheHighestFencingEpochAndRecordsOutOfOrder() throws Exception {
        Path file = dataDir.resolve("out.log");
        try (FileOutputSink first = new FileOutputSink(file); FileOutputSink second = new FileOutputSink(file)) {
            assertEquals(OutputSink.NO_HISTORY, first.open("vm", 1));
            first.write(0, List.of(counter(1), counter(2)));
            assertEquals(2, second.open("vm", 2));
            assertThrows(OutputSink.FencedException.class, () -> first.write(2, List.of(counter(3))));
            assertThrows(OutputSink.OutputGapException.class, () -> second.write(3, List.of(counter(4))));
            assertThrows(OutputSink.OutputGapException.class, () -> second.write(1, List.of(counter(2))));
            second.write(2, List.of(counter(3)));
        }
        assertContiguousCounterSequence(OutputLog.read(file, "vm"), 0);
        assertEquals(3, OutputLog.read(file, "vm").size());
    }

    static void assertContiguousCounterSequence(List<OutputLog.Record> records, long firstIndex) {
        for (int i = 0; i < records.size(); i++) {
            OutputLog.Record record = records.get(i);
            assertEquals(firstIndex + i, record.index(), "record " + i);
            long value = ByteBuffer.wrap(record.payload()).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(record.index() + 1, value, "the guest's counter at output " + record.index());
        }
    }

    private static byte[] counter(long value) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array();
    }

    private CollectorServer collector(Duration lease) throws Exception {
        return CollectorServer.start(CollectorConfig.of("127.0.0.1", 0, dataDir).withLease(lease),
                new SimpleMeterRegistry());
    }

    private static Agent agent(CollectorServer collector, String vm, MemorySource guest, String sink) {
        Agent agent = new Agent(AgentConfig.of("127.0.0.1:" + collector.port(), vm).withOutputSink(sink)
                .withHeartbeatInterval(Duration.ofMillis(100)), guest, new SimpleMeterRegistry());
        agent.start();
        return agent;
    }

    /** The admin API, as an operator's tool reaches it. */
    private static final class Admin implements AutoCloseable {
        private final ManagedChannel channel;
        private final AdminGrpc.AdminBlockingStub stub;

        Admin(int port) {
            channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
            stub = AdminGrpc.newBlockingStub(channel);
        }

        PromoteResponse promote(String vm, boolean force) {
            return stub.promote(PromoteRequest.newBuilder().setVmId(vm).setForce(force).build());
        }

        VmStatus status(String vm) {
            return stub.getVm(GetVmRequest.newBuilder().setVmId(vm).build());
        }

        @Override
        public void close() {
            channel.shutdownNow();
        }
    }
}
