package io.cpstream.e2e;

import static io.cpstream.e2e.Replication.assertImageIsCommittedEpoch;
import static io.cpstream.e2e.Replication.awaitAcked;
import static io.cpstream.e2e.Replication.count;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.collector.CollectorServer;
import io.cpstream.tracker.MemorySource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Agent and collector over real loopback TCP. Every commit carries the primary's image digest at the
 * stun and the collector verifies its image after applying it, so each committed epoch is checked
 * byte for byte (I1, I4); the image file on disk is checked once more independently.
 */
class ReplicationEndToEndTest {

    @TempDir
    Path dataDir;

    @ParameterizedTest(name = "workload {0}")
    @ValueSource(strings = {"uniform", "zipf", "scan", "sparse", "zero", "mixed"})
    void standbyEqualsPrimaryAtEveryCommittedEpoch(String workload) throws Exception {
        SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
        try (CollectorServer collector = Replication.collector(dataDir, collectorMeters);
             MemorySource guest = Replication.sim("mem=4m,rate=20000,workload=" + workload);
             Agent agent = Replication.agent(collector.port(), "vm-" + workload, guest)) {
            awaitAcked(agent, 25);
            agent.close();
            collector.close(); // quiescent: nothing is mid-commit while the files are read
            double committed = count(collectorMeters, "cpstream.collector.epochs.committed");
            assertTrue(committed >= 25, "committed " + committed);
            assertEquals(committed, count(collectorMeters, "cpstream.collector.digests.verified"),
                    "every committed epoch was verified");
            assertEquals(0, count(collectorMeters, "cpstream.collector.digest.mismatches"));
            assertEquals(0, count(collectorMeters, "cpstream.collector.checksum.mismatches"));
            assertImageIsCommittedEpoch(dataDir, "vm-" + workload, agent);
        }
    }

    @Test
    void restartedAgentResyncsTheStandbyFully() throws Exception {
        SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
        try (CollectorServer collector = Replication.collector(dataDir, collectorMeters)) {
            long firstRunEpoch;
            try (MemorySource guest = Replication.sim("mem=2m,seed=1");
                 Agent agent = Replication.agent(collector.port(), "vm", guest)) {
                awaitAcked(agent, 10);
                agent.close();
                firstRunEpoch = Replication.committedEpochOnDisk(dataDir, "vm");
            }
            // A new agent process has a new guest: its first checkpoint must be full, its epochs continue.
            try (MemorySource guest = Replication.sim("mem=2m,seed=2");
                 Agent agent = Replication.agent(collector.port(), "vm", guest)) {
                awaitAcked(agent, 10);
                agent.close();
                collector.close();
                // Ten acknowledged epochs after the first run's: they continue its numbering.
                assertTrue(Replication.committedEpochOnDisk(dataDir, "vm") >= firstRunEpoch + 10);
                assertImageIsCommittedEpoch(dataDir, "vm", agent);
            }
            assertEquals(0, count(collectorMeters, "cpstream.collector.digest.mismatches"));
        }
    }
}
