package io.cpstream.e2e;

import static io.cpstream.e2e.Replication.awaitAcked;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.GetVmRequest;
import io.cpstream.proto.PromoteRequest;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.tracker.MemorySource;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two collectors on one real ZooKeeper server (embedded), sharing the leases and fencing epochs of
 * their VMs: a promotion on one collector fences the primary streaming to the other, the safe default
 * refuses while that primary holds its lease, and of two concurrent promotions exactly one wins.
 */
class ZooKeeperFencingTest {

    private static final Duration LEASE = Duration.ofMillis(1000);

    @TempDir
    Path dataDir;

    private TestingServer zookeeper;

    @BeforeEach
    void startZooKeeper() throws Exception {
        zookeeper = new TestingServer(true);
    }

    @AfterEach
    void stopZooKeeper() throws Exception {
        zookeeper.close();
    }

    @Test
    void promotionOnOneCollectorFencesThePrimaryStreamingToAnother() throws Exception {
        try (CollectorServer a = collector("a"); CollectorServer b = collector("b");
             MemorySource guest = Replication.sim("mem=2m,rate=5000,outputs=500")) {
            giveStandbyOnBThenStop(b, "vm");
            try (Agent primary = agent(a, "vm", guest, 0)) {
                awaitAcked(primary, 10);
                await().atMost(Replication.PATIENCE).until(primary::holdsLease);

                StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> promote(b, "vm", false));
                assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
                assertTrue(refused.getStatus().getDescription().contains("another collector"), refused.getMessage());

                PromoteResponse promoted = promote(b, "vm", true);
                assertEquals(1, promoted.getFencingEpoch());
                await().atMost(Replication.PATIENCE).until(() -> primary.failure() != null);
                assertTrue(primary.failure().getDescription().contains("fenced"), primary.failure().toString());
            }
            // Collector A remembers: an agent presenting the old epoch is refused there as well.
            try (MemorySource again = Replication.sim("mem=2m"); Agent stale = agent(a, "vm", again, 0)) {
                await().atMost(Replication.PATIENCE).until(() -> stale.failure() != null);
                assertEquals(Status.Code.FAILED_PRECONDITION, stale.failure().getCode());
            }
        }
    }

    @Test
    void ofTwoConcurrentPromotionsOnDifferentCollectorsExactlyOneWins() throws Exception {
        try (CollectorServer a = collector("a"); CollectorServer b = collector("b")) {
            giveStandbyOnBThenStop(a, "vm");
            giveStandbyOnBThenStop(b, "vm");
            for (CollectorServer c : List.of(a, b)) {
                await().atMost(Replication.PATIENCE).until(() -> status(c, "vm") == 0);
            }
            CountDownLatch go = new CountDownLatch(1);
            List<CompletableFuture<Status.Code>> attempts = List.of(a, b).stream()
                    .map(c -> CompletableFuture.supplyAsync(() -> {
                        try {
                            go.await();
                            promote(c, "vm", false);
                            return Status.Code.OK;
                        } catch (StatusRuntimeException e) {
                            return e.getStatus().getCode();
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    })).toList();
            go.countDown();
            List<Status.Code> codes = attempts.stream().map(CompletableFuture::join).toList();
            assertEquals(1, codes.stream().filter(Status.Code.OK::equals).count(), "winners among " + codes);
            assertTrue(codes.contains(Status.Code.ABORTED), "the loser learns another promotion won: " + codes);
        }
    }

    @Test
    void aCollectorCutOffFromZooKeeperStopsGrantingLeases() throws Exception {
        try (CollectorServer a = collector("a"); MemorySource guest = Replication.sim("mem=2m,rate=5000,outputs=500");
             Agent primary = agent(a, "vm", guest, 0)) {
            awaitAcked(primary, 5);
            await().atMost(Replication.PATIENCE).until(primary::holdsLease);
            zookeeper.stop();
            // The stream stays up, but the collector cannot prove it still speaks for the VM.
            await().atMost(Replication.PATIENCE).until(() -> !primary.holdsLease());
            long released = primary.outputsReleased();
            Thread.sleep(500);
            assertEquals(released, primary.outputsReleased(), "no output released without a lease");
            assertTrue(primary.connected());
        }
    }

    private void giveStandbyOnBThenStop(CollectorServer collector, String vm) {
        try (MemorySource guest = Replication.sim("mem=2m,rate=5000"); Agent agent = agent(collector, vm, guest, 0)) {
            awaitAcked(agent, 5);
        }
    }

    private CollectorServer collector(String name) throws Exception {
        return CollectorServer.start(CollectorConfig.of("127.0.0.1", 0, dataDir.resolve(name)).withLease(LEASE)
                .withZooKeeper(zookeeper.getConnectString()), new SimpleMeterRegistry());
    }

    private static Agent agent(CollectorServer collector, String vm, MemorySource guest, long fencing) {
        Agent agent = new Agent(AgentConfig.of("127.0.0.1:" + collector.port(), vm).withFencingEpoch(fencing)
                .withHeartbeatInterval(Duration.ofMillis(100)), guest, new SimpleMeterRegistry());
        agent.start();
        return agent;
    }

    private static PromoteResponse promote(CollectorServer collector, String vm, boolean force) {
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", collector.port()).usePlaintext().build();
        try {
            return AdminGrpc.newBlockingStub(channel).promote(PromoteRequest.newBuilder().setVmId(vm).setForce(force).build());
        } finally {
            channel.shutdownNow();
        }
    }

    /** Milliseconds of lease the VM's primary still holds on {@code collector}. */
    private static long status(CollectorServer collector, String vm) {
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", collector.port()).usePlaintext().build();
        try {
            return AdminGrpc.newBlockingStub(channel).getVm(GetVmRequest.newBuilder().setVmId(vm).build())
                    .getLeaseRemainingMs();
        } finally {
            channel.shutdownNow();
        }
    }
}
