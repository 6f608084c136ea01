package io.cpstream.e2e;

import static io.cpstream.e2e.Replication.assertImageIsCommittedEpoch;
import static io.cpstream.e2e.Replication.awaitAcked;
import static io.cpstream.e2e.Replication.count;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentStats;
import io.cpstream.collector.CollectorServer;
import io.cpstream.tracker.MemorySource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The history split end to end on sim guests: stable pages are write-protected at the stun and copied
 * after the resume while writers hammer them, and the collector checks its image against the primary's
 * digest at the stun after every commit (I1, I4). Copy-before-write faults must have happened, or the
 * test proved nothing.
 */
class ShortStunReplicationTest {

    @TempDir
    Path dataDir;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
        // Mostly stable dirty pages: the log sweeps memory, the page under its cursor is rewritten right after the resume.
        "mem=4m,workload=stable,hot-pages=16,hot-share=20,rate=40000",
        // Random whole pages from two writers, about one write per page per epoch: a third of the dirty
        // pages were quiet before, and writes land on them while they are still protected. (At full speed
        // on a small guest every page is dirty in every epoch, none is stable, and nothing is tested.)
        "mem=8m,workload=uniform,rate=200000,writers=2",
        "mem=4m,workload=mixed,rate=60000",
    })
    void standbyEqualsThePrimaryAtEveryEpochWhileWritersHitProtectedPages(String params) throws Exception {
        SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
        try (CollectorServer collector = Replication.collector(dataDir, collectorMeters);
             MemorySource guest = Replication.sim(params);
             Agent agent = Replication.agent(collector.port(), "vm-cow", guest)) {
            assertTrue(agent.defersStablePages(), "the sim source can protect pages");
            awaitAcked(agent, 30);
            // How often a writer beats the copier is up to the scheduler: keep going until it has happened.
            org.awaitility.Awaitility.await().atMost(Replication.PATIENCE).until(() -> agent.stats().cowFaults() > 0);
            AgentStats.Snapshot stats = agent.stats();
            agent.close();
            collector.close();
            double committed = count(collectorMeters, "cpstream.collector.epochs.committed");
            assertTrue(committed >= 30, "committed " + committed);
            assertEquals(committed, count(collectorMeters, "cpstream.collector.digests.verified"),
                    "every committed epoch was verified");
            assertEquals(0, count(collectorMeters, "cpstream.collector.digest.mismatches"));
            assertEquals(0, count(collectorMeters, "cpstream.collector.checksum.mismatches"));
            assertTrue(stats.deferredPages() > 0, "no page was copied after the resume");
            assertTrue(stats.cowFaults() > 0, "no writer hit a protected page before it was copied");
            System.out.printf("%s: %d checkpoints, %d dirty pages, %d copied after the resume, %d copy-before-write faults%n",
                    params, stats.checkpoints(), stats.dirtyPages(), stats.deferredPages(), stats.cowFaults());
            assertImageIsCommittedEpoch(dataDir, "vm-cow", agent);
        }
    }
}
