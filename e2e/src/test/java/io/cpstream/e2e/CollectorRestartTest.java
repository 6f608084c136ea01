package io.cpstream.e2e;

import static io.cpstream.e2e.Replication.assertImageIsCommittedEpoch;
import static io.cpstream.e2e.Replication.awaitAcked;
import static io.cpstream.e2e.Replication.count;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.collector.store.Durability;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.tracker.MemorySource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The collector goes away mid-stream and comes back on the same data directory: no acknowledged
 * epoch is lost, the image is exactly one committed epoch (I1), and the agent resumes from it
 * without resending the whole guest.
 */
class CollectorRestartTest {

    @TempDir
    Path dataDir;

    @Test
    void agentResumesWithoutFullResendAfterCollectorRestart() throws Exception {
        int port = freePort();
        SimpleMeterRegistry agentMeters = new SimpleMeterRegistry();
        try (MemorySource guest = Replication.sim("mem=4m,rate=20000,workload=mixed");
             Agent agent = new Agent(AgentConfig.of("127.0.0.1:" + port, "vm").withVerify(true), guest, agentMeters)) {
            CollectorServer first = Replication.collector(dataDir, port, new SimpleMeterRegistry());
            agent.start();
            awaitAcked(agent, 20);
            first.close();
            long ackedBefore = agent.acknowledgedEpoch();
            assertTrue(Replication.committedEpochOnDisk(dataDir, "vm") >= ackedBefore, "an acknowledged epoch was lost");
            assertImageIsCommittedEpoch(dataDir, "vm", agent);

            SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
            try (CollectorServer second = Replication.collector(dataDir, port, collectorMeters)) {
                awaitAcked(agent, 20);
                agent.close();
                second.close();
                assertEquals(1, count(agentMeters, "cpstream.agent.checkpoints.full"),
                        "only the very first checkpoint was full");
                assertEquals(count(collectorMeters, "cpstream.collector.epochs.committed"),
                        count(collectorMeters, "cpstream.collector.digests.verified"));
                assertEquals(0, count(collectorMeters, "cpstream.collector.digest.mismatches"));
                assertImageIsCommittedEpoch(dataDir, "vm", agent);
            }
        }
    }

    @Test
    void collectorKilledAtRandomMomentsRestartsAtAnAcknowledgedEpoch() throws Exception {
        int port = freePort();
        Random random = new Random(42);
        try (MemorySource guest = Replication.sim("mem=4m,rate=40000,workload=mixed");
             Agent agent = new Agent(AgentConfig.of("127.0.0.1:" + port, "vm").withVerify(true), guest,
                     new SimpleMeterRegistry())) {
            Process collector = CollectorProcess.start(port, dataDir);
            agent.start();
            for (int kill = 0; kill < 3; kill++) {
                awaitAcked(agent, 5);
                Thread.sleep(random.nextInt(200));
                collector.destroyForcibly().waitFor(); // SIGKILL, wherever it was
                long acked = agent.acknowledgedEpoch();
                // Recover exactly as a restarting collector does, then inspect before anything streams again.
                ImageStore.open(dataDir.resolve("vms").resolve("vm"), Durability.NONE).close();
                long recovered = Replication.committedEpochOnDisk(dataDir, "vm");
                assertTrue(recovered >= acked, "acknowledged epoch " + acked + " lost; disk holds " + recovered);
                assertImageIsCommittedEpoch(dataDir, "vm", agent);
                collector = CollectorProcess.start(port, dataDir);
            }
            awaitAcked(agent, 5);
            collector.destroyForcibly().waitFor();
            assertImageIsCommittedEpoch(dataDir, "vm", agent);
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
