package io.cpstream.e2e;

import static io.cpstream.e2e.Replication.awaitAcked;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.FailoverConfig;
import io.cpstream.agent.output.OutputLog;
import io.cpstream.cli.CliRun;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.harness.chaos.TcpProxy;
import io.cpstream.tracker.MemorySource;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariant I8: losing the standby costs protection, not service. With ZooKeeper as the authority, a primary
 * without its standby for the standby timeout raises the VM's fencing epoch and goes on alone, releasing its
 * output; the lost standby can never be promoted, and a promotion racing with the primary has exactly one winner
 * (I3). A pool of collectors takes the primary in again, fully synced and verified. Without an authority the
 * operator's policy decides.
 */
class StandbyLossTest {

    private static final Duration LEASE = Duration.ofMillis(1000);
    private static final Duration STANDBY_TIMEOUT = Duration.ofMillis(1500);

    @TempDir
    Path dir;

    private TestingServer zookeeper;

    @BeforeEach
    void startZooKeeper() throws Exception {
        zookeeper = new TestingServer(true);
    }

    @AfterEach
    void stopZooKeeper() throws Exception {
        zookeeper.close();
    }

    private CollectorServer collector(String name, int port, String host) throws IOException {
        return collector(name, port, host, new SimpleMeterRegistry());
    }

    private CollectorServer collector(String name, int port, String host, SimpleMeterRegistry meters)
            throws IOException {
        return CollectorServer.start(CollectorConfig.of("127.0.0.1", port, dir.resolve(name)).withLease(LEASE)
                .withZooKeeper(zookeeper.getConnectString())
                .withPool(new CollectorConfig.PoolSettings(null, host)), meters);
    }

    private Agent agent(String collector, FailoverConfig failover, MemorySource guest) {
        AgentConfig config = AgentConfig.of(collector == null ? "unused" : collector, "vm").withFailover(failover)
                .withVerify(true).withOutputSink("file:" + dir.resolve("released.log"))
                .withHeartbeatInterval(Duration.ofMillis(100));
        Agent agent = new Agent(config, guest, new SimpleMeterRegistry());
        agent.start();
        return agent;
    }

    private FailoverConfig withAuthority() {
        return new FailoverConfig(null, zookeeper.getConnectString(), STANDBY_TIMEOUT, FailoverConfig.OnLoss.WAIT,
                "host-a");
    }

    private long released() throws IOException {
        return OutputLog.read(dir.resolve("released.log"), "vm").size();
    }

    /** Output keeps leaving: more is released within a few seconds. */
    private void awaitOutputFlows() throws IOException {
        long before = released();
        await().atMost(Replication.PATIENCE).until(() -> released() > before + 10);
    }

    @Test
    void aPrimaryThatLostItsStandbyGoesOnAloneAndTheLostStandbyCannotBePromoted() throws Exception {
        int port = freePort();
        try (MemorySource guest = Replication.sim("mem=2m,rate=5000,outputs=200")) {
            CollectorServer first = collector("first", port, "host-b");
            Agent primary = agent("127.0.0.1:" + port, withAuthority(), guest);
            try (primary) {
                awaitAcked(primary, 5);
                awaitOutputFlows();
                first.close(); // the standby's host is gone

                await().atMost(Replication.PATIENCE).until(() -> !primary.protectedByStandby());
                assertEquals(1, primary.fencingEpoch(), "the authority raised the fencing epoch for the primary");
                assertNull(primary.failure());
                awaitOutputFlows();
                // What an operator sees of the pool: the VM runs unprotected, on no collector.
                await().atMost(Replication.PATIENCE).until(() -> "unprotected".equals(poolRow("vm").path("state")
                        .asText()));
                assertEquals("-", poolRow("vm").get("collector").asText());
                assertEquals(false, poolRow("vm").get("protected").asBoolean());

                // The lost standby comes back (elsewhere: the primary does not reach it): it cannot be promoted.
                try (CollectorServer lost = CollectorServer.start(CollectorConfig.of("127.0.0.1", 0, dir.resolve("first"))
                        .withLease(LEASE).withZooKeeper(zookeeper.getConnectString()), new SimpleMeterRegistry());
                     AdminClient admin = new AdminClient("127.0.0.1:" + lost.port())) {
                    StatusRuntimeException refused = org.junit.jupiter.api.Assertions.assertThrows(
                            StatusRuntimeException.class, () -> admin.promote("vm", true));
                    assertEquals(Status.Code.ABORTED, refused.getStatus().getCode(), refused.getMessage());
                }

                // A collector at the address the primary knows: it is protected again, from a full sync.
                SimpleMeterRegistry meters = new SimpleMeterRegistry();
                try (CollectorServer again = collector("again", port, "host-b", meters)) {
                    await().atMost(Replication.PATIENCE).until(primary::protectedByStandby);
                    awaitAcked(primary, 3);
                    assertTrue(Replication.count(meters, "cpstream.collector.digests.verified") > 0);
                    assertEquals(0, Replication.count(meters, "cpstream.collector.digest.mismatches"));
                    try (AdminClient admin = new AdminClient("127.0.0.1:" + port)) {
                        assertEquals(1, admin.get("vm").getFencingEpoch());
                    }
                }
            }
        }
    }

    /**
     * The primary's link to its standby is cut, and an operator promotes the standby while the primary's timeout
     * runs out: whoever raises the fencing epoch first wins, the other is refused, never both. Over several
     * timings, both outcomes occur.
     */
    @Test
    void aPromotionRacingThePrimaryGoingOnAloneHasExactlyOneWinner() throws Exception {
        List<String> outcomes = new ArrayList<>();
        long[] promoteAfterMillis = {100, 2600, 1500, 1450};
        for (int i = 0; i < promoteAfterMillis.length; i++) {
            String vm = "race-" + i;
            try (CollectorServer collector = CollectorServer.start(CollectorConfig.of("127.0.0.1", 0, dir.resolve(vm))
                    .withLease(LEASE).withZooKeeper(zookeeper.getConnectString()), new SimpleMeterRegistry());
                 TcpProxy link = new TcpProxy(new InetSocketAddress("127.0.0.1", collector.port()));
                 AdminClient admin = new AdminClient("127.0.0.1:" + collector.port());
                 MemorySource guest = Replication.sim("mem=1m,rate=2000,outputs=100")) {
                AgentConfig config = AgentConfig.of("127.0.0.1:" + link.port(), vm).withFailover(withAuthority())
                        .withHeartbeatInterval(Duration.ofMillis(100));
                try (Agent primary = new Agent(config, guest, new SimpleMeterRegistry())) {
                    primary.start();
                    awaitAcked(primary, 3);
                    link.cut();
                    Thread.sleep(promoteAfterMillis[i]);
                    boolean promoted;
                    try {
                        admin.promote(vm, true);
                        promoted = true;
                    } catch (StatusRuntimeException e) {
                        assertEquals(Status.Code.ABORTED, e.getStatus().getCode(), e.getMessage());
                        promoted = false;
                    }
                    await().atMost(Replication.PATIENCE).until(() -> primary.failure() != null
                            || !primary.protectedByStandby());
                    boolean alone = primary.failure() == null;
                    assertNotEquals(promoted, alone, "exactly one of the promotion and the primary won (vm " + vm + ")");
                    if (!alone) {
                        assertTrue(primary.failure().getDescription().contains("fenced"), primary.failure().toString());
                    }
                    outcomes.add(promoted ? "promoted" : "alone");
                }
            }
        }
        System.out.println("race outcomes by promotion delay " + java.util.Arrays.toString(promoteAfterMillis) + ": "
                + outcomes);
        assertTrue(outcomes.contains("promoted") && outcomes.contains("alone"), "both outcomes occur: " + outcomes);
    }

    /** Without an authority, wait keeps every output in until a standby is back; continue releases them. */
    @Test
    void withoutAnAuthorityThePolicyDecides() throws Exception {
        for (FailoverConfig.OnLoss policy : FailoverConfig.OnLoss.values()) {
            int port = freePort();
            FailoverConfig failover = new FailoverConfig(null, null, STANDBY_TIMEOUT, policy, "host-a");
            try (MemorySource guest = Replication.sim("mem=1m,rate=2000,outputs=200")) {
                CollectorServer collector = CollectorServer.start(CollectorConfig.of("127.0.0.1", port,
                        dir.resolve("lone-" + policy)).withLease(LEASE), new SimpleMeterRegistry());
                java.nio.file.Files.deleteIfExists(dir.resolve("released.log"));
                try (Agent primary = agent("127.0.0.1:" + port, failover, guest)) {
                    awaitAcked(primary, 3);
                    awaitOutputFlows();
                    collector.close();
                    Thread.sleep(STANDBY_TIMEOUT.toMillis() + 1500);
                    long before = released();
                    Thread.sleep(1000);
                    if (policy == FailoverConfig.OnLoss.WAIT) {
                        assertTrue(primary.protectedByStandby(), "waiting, not alone");
                        assertEquals(before, released(), "nothing leaves without a standby");
                    } else {
                        assertTrue(!primary.protectedByStandby(), "alone");
                        assertEquals(0, primary.fencingEpoch(), "no authority: no epoch raised");
                        assertTrue(released() > before, "output leaves unprotected");
                    }
                    assertNull(primary.failure());
                }
            }
        }
    }

    /**
     * A pool of three collectors in ZooKeeper, one of them on the primary's own host: the primary is placed on
     * another, and when that one dies it is placed on the third, fully synced, and its image verified there.
     */
    @Test
    void aPoolPlacesThePrimaryAwayFromItsHostAndReplacesALostCollector() throws Exception {
        List<CollectorServer> pool = new ArrayList<>();
        try (MemorySource guest = Replication.sim("mem=2m,rate=5000,outputs=200")) {
            pool.add(collector("own-host", 0, "host-a"));
            pool.add(collector("b", 0, "host-b"));
            pool.add(collector("c", 0, "host-c"));
            FailoverConfig failover = new FailoverConfig("zk:" + zookeeper.getConnectString(), null, STANDBY_TIMEOUT,
                    FailoverConfig.OnLoss.WAIT, "host-a");
            try (Agent primary = agent(null, failover, guest)) {
                awaitAcked(primary, 5);
                String first = primary.collector();
                assertNotEquals(pool.getFirst().advertisedAddress(), first, "never on its own host");
                CollectorServer lost = pool.stream().filter(c -> c.advertisedAddress().equals(first)).findFirst()
                        .orElseThrow();
                lost.close();

                await().atMost(Replication.PATIENCE).until(() -> primary.protectedByStandby()
                        && primary.collector() != null && !primary.collector().equals(first));
                String second = primary.collector();
                assertNotEquals(pool.getFirst().advertisedAddress(), second, "never on its own host");
                await().atMost(Replication.PATIENCE).until(() -> poolRow("vm").path("protected").asBoolean());
                assertEquals(second, poolRow("vm").get("collector").asText(), "status shows where it is protected");
                awaitAcked(primary, 5);
                assertNull(primary.failure());
                CollectorServer now = pool.stream().filter(c -> c.advertisedAddress().equals(second)).findFirst()
                        .orElseThrow();
                assertTrue(now.vms().getFirst().getCommittedEpoch() > 0);
            }
        } finally {
            pool.forEach(CollectorServer::close);
        }
    }

    /** The row of {@code vm} that `cpstream status --collectors zk:...` shows protected, or else its first row. */
    private com.fasterxml.jackson.databind.JsonNode poolRow(String vm) throws IOException {
        CliRun status = CliRun.of("status", "--insecure", "--collectors", "zk:" + zookeeper.getConnectString(), "--json");
        assertEquals(0, status.code(), status.err());
        com.fasterxml.jackson.databind.JsonNode first = com.fasterxml.jackson.databind.node.MissingNode.getInstance();
        for (com.fasterxml.jackson.databind.JsonNode row : status.json().get("vms")) {
            if (row.get("vm").asText().equals(vm)) {
                if (row.get("protected").asBoolean()) {
                    return row;
                }
                first = first.isMissingNode() ? row : first;
            }
        }
        return first;
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
