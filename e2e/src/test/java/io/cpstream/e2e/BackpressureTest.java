package io.cpstream.e2e;

import static io.cpstream.e2e.Replication.awaitAcked;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentStats;
import io.cpstream.collector.CollectorServer;
import io.cpstream.harness.chaos.TcpProxy;
import io.cpstream.tracker.MemorySource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A link slower than the epochs ask for: every chunk held back 30 ms each way, 10 ms epochs, at most two checkpoints
 * awaiting an ack. The agent cannot take a checkpoint at every boundary, so it must merge epochs (one stun covering the
 * dirty pages of several) rather than queue checkpoints, count the merges, and still commit exactly the primary's
 * memory at every epoch it acknowledges.
 */
class BackpressureTest {

    @TempDir
    Path dataDir;

    @Test
    void aSlowLinkMergesEpochsAndEveryCommitStillMatchesThePrimary() throws Exception {
        SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
        try (CollectorServer collector = Replication.collector(dataDir, collectorMeters);
             TcpProxy link = new TcpProxy(new InetSocketAddress("127.0.0.1", collector.port()));
             MemorySource guest = Replication.sim("mem=8m,workload=zipf,rate=2000")) {
            link.delay(30);
            AgentConfig config = AgentConfig.of("127.0.0.1:" + link.port(), "vm-backpressure").withVerify(true)
                    .withEpochInterval(Duration.ofMillis(10)).withMaxInFlight(2);
            try (Agent agent = new Agent(config, guest, new SimpleMeterRegistry())) {
                agent.start();
                awaitAcked(agent, 3);
                agent.resetStats();
                awaitAcked(agent, 10);
                AgentStats.Snapshot stats = agent.stats();
                System.out.printf("backpressure, 30 ms each way, 10 ms epochs, 2 in flight: %d checkpoints, %d epochs merged, "
                        + "lag p50 %.1f ms p99 %.1f ms%n", stats.checkpoints(), stats.mergedEpochs(), stats.lagMsP50(),
                        stats.lagMsP99());
                assertNull(agent.failure(), "the agent failed");
                // Each checkpoint waits at least one 60 ms round trip for room: several boundaries pass meanwhile.
                assertTrue(stats.mergedEpochs() >= stats.checkpoints(), "epochs merged while the link lagged: "
                        + stats.mergedEpochs() + " for " + stats.checkpoints() + " checkpoints");
            }
        }
        double committed = Replication.count(collectorMeters, "cpstream.collector.epochs.committed");
        assertTrue(committed > 0, "nothing committed");
        assertEquals(committed, Replication.count(collectorMeters, "cpstream.collector.digests.verified"),
                "every committed epoch was checked against the primary's digest at its stun");
        assertEquals(0, Replication.count(collectorMeters, "cpstream.collector.digest.mismatches"),
                "a merged checkpoint left the standby different from the primary");
    }
}
