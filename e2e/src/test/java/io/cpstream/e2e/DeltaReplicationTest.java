package io.cpstream.e2e;

import static io.cpstream.e2e.Replication.assertImageIsCommittedEpoch;
import static io.cpstream.e2e.Replication.awaitAcked;
import static io.cpstream.e2e.Replication.count;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.collector.store.Durability;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.tracker.MemorySource;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.ServerSocket;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Replication with deltas and duplicates active, over real loopback TCP, in verify mode: the collector checks its
 * image against the primary's SHA-256 after every commit, so every committed epoch is proven byte-exact (I1, I4),
 * including across a collector restart (which forgets page versions) and an injected corrupted delta.
 */
class DeltaReplicationTest {

    @TempDir
    Path dataDir;

    private static double decoded(MeterRegistry registry, String encoding) {
        var counter = registry.find("cpstream.collector.pages.decoded").tag("encoding", encoding).counter();
        return counter == null ? 0 : counter.count();
    }

    private static double rejected(MeterRegistry registry) {
        return registry.find("cpstream.collector.pages.rejected").counters().stream()
                .mapToDouble(c -> c.count()).sum();
    }

    private static void assertEveryCommitVerified(MeterRegistry collector) {
        assertEquals(count(collector, "cpstream.collector.epochs.committed"),
                count(collector, "cpstream.collector.digests.verified"), "every committed epoch was verified");
        assertEquals(0, count(collector, "cpstream.collector.digest.mismatches"));
    }

    /** The image on disk after recovery (as a restarting collector sees it) is the primary at its epoch. */
    private void assertRecoveredImageIsCommittedEpoch(Agent agent) throws Exception {
        ImageStore.open(dataDir.resolve("vms").resolve("vm"), Durability.NONE).close();
        assertImageIsCommittedEpoch(dataDir, "vm", agent);
    }

    @ParameterizedTest(name = "workload {0}")
    @ValueSource(strings = {"sparse", "zipf", "mixed"})
    void deltasKeepTheStandbyByteExact(String workload) throws Exception {
        SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
        try (CollectorServer collector = Replication.collector(dataDir, collectorMeters);
             MemorySource guest = Replication.sim("mem=4m,rate=20000,workload=" + workload);
             Agent agent = Replication.agent(collector.port(), "vm", guest)) {
            awaitAcked(agent, 40);
            agent.close();
            collector.close();
            assertTrue(decoded(collectorMeters, "delta") > 0, "no delta was sent");
            assertEquals(0, rejected(collectorMeters), "a delta or duplicate was refused");
            assertEveryCommitVerified(collectorMeters);
            assertRecoveredImageIsCommittedEpoch(agent);
        }
    }

    @Test
    void afterACollectorRestartNoDeltaNamesAVersionItForgotAndDeltasResume() throws Exception {
        int port = freePort();
        try (MemorySource guest = Replication.sim("mem=4m,rate=20000,workload=sparse");
             Agent agent = new Agent(AgentConfig.of("127.0.0.1:" + port, "vm").withVerify(true), guest,
                     new SimpleMeterRegistry())) {
            SimpleMeterRegistry firstMeters = new SimpleMeterRegistry();
            CollectorServer first = Replication.collector(dataDir, port, firstMeters);
            agent.start();
            awaitAcked(agent, 20);
            first.close();
            assertTrue(decoded(firstMeters, "delta") > 0, "no delta before the restart");

            SimpleMeterRegistry secondMeters = new SimpleMeterRegistry();
            try (CollectorServer second = Replication.collector(dataDir, port, secondMeters)) {
                awaitAcked(agent, 30);
                await().atMost(Replication.PATIENCE).until(() -> decoded(secondMeters, "delta") > 0);
                agent.close();
                second.close();
                assertEquals(0, rejected(secondMeters),
                        "the agent sent a delta against a version the restarted collector could not vouch for");
                assertEveryCommitVerified(secondMeters);
                assertRecoveredImageIsCommittedEpoch(agent);
            }
        }
    }

    @Test
    void aCorruptedDeltaIsNeverCommittedAndThePageIsResentWhole() throws Exception {
        SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
        SimpleMeterRegistry agentMeters = new SimpleMeterRegistry();
        try (CollectorServer collector = Replication.collector(dataDir, collectorMeters);
             MemorySource guest = Replication.sim("mem=4m,rate=20000,workload=sparse");
             Agent agent = new Agent(AgentConfig.of("127.0.0.1:" + collector.port(), "vm").withVerify(true), guest,
                     agentMeters)) {
            agent.start();
            awaitAcked(agent, 10);
            await().atMost(Replication.PATIENCE).until(() -> decoded(collectorMeters, "delta") > 0);
            agent.corruptNextDeltas(1);
            await().atMost(Replication.PATIENCE).until(() -> count(collectorMeters,
                    "cpstream.collector.checksum.mismatches") >= 1);
            double deltasAfterCorruption = decoded(collectorMeters, "delta");
            awaitAcked(agent, 20);
            await().atMost(Replication.PATIENCE).until(() -> decoded(collectorMeters, "delta") > deltasAfterCorruption);
            agent.close();
            collector.close();
            assertEquals(1, count(collectorMeters, "cpstream.collector.checksum.mismatches"));
            assertTrue(count(agentMeters, "cpstream.agent.resyncs") >= 1, "the collector asked for the page whole");
            assertEquals(1, count(agentMeters, "cpstream.agent.checkpoints.full"), "no full resync was needed");
            assertEveryCommitVerified(collectorMeters);
            assertRecoveredImageIsCommittedEpoch(agent);
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
