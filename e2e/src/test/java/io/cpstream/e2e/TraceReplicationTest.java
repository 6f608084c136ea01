package io.cpstream.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.collector.CollectorServer;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.trace.TraceRecorder;
import io.cpstream.tracker.trace.TraceSource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Record a guest into a trace, replay the trace through agent and collector, and check the standby
 * against the recording: at every epoch the image the collector committed has the SHA-256 the
 * recorder wrote for that epoch.
 */
class TraceReplicationTest {

    private static final int EPOCHS = 20;

    @TempDir
    Path dir;

    @Test
    void replayOfASimRecordingReproducesEveryRecordedDigest() throws Exception {
        Path trace = dir.resolve("sim.cpt");
        try (MemorySource sim = MemorySources.open("sim:mem=8m,workload=mixed,rate=40000")) {
            TraceRecorder.record(sim, trace, Duration.ofMillis(10), EPOCHS, Map.of(), (e, d, s, p) -> { });
        }
        replayAndCheck(trace);
    }

    @Test
    void replayOfARedisRecordingReproducesEveryRecordedDigest() throws Exception {
        Path trace = dir.resolve("redis.cpt");
        try (RedisServer redis = RedisServer.start()) {
            redis.startWriteLoad(2);
            try (MemorySource process = MemorySources.open("process:pid=" + redis.pid())) {
                TraceRecorder.record(process, trace, Duration.ofMillis(50), EPOCHS,
                        Map.of("source", "redis-server"), (e, d, s, p) -> { });
            }
            redis.assertHealthy();
        }
        replayAndCheck(trace);
    }

    private void replayAndCheck(Path trace) throws Exception {
        SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
        Path dataDir = dir.resolve("collector");
        try (CollectorServer collector = Replication.collector(dataDir, collectorMeters);
             TraceSource replay = (TraceSource) MemorySources.open("trace:" + trace);
             Agent agent = Replication.agent(collector.port(), "replay", replay)) {
            await().atMost(Duration.ofMinutes(3)).until(() -> {
                if (agent.failure() != null) {
                    throw new AssertionError("agent failed: " + agent.failure());
                }
                return replay.finished() && agent.acknowledgedEpoch() >= EPOCHS;
            });
            agent.close();
            collector.close();
            // With a fresh collector the agent's epoch N is the replay's stun N, which saw recorded epoch N.
            for (int epoch = 1; epoch <= EPOCHS; epoch++) {
                byte[] recorded = replay.expectedDigestAtStun(epoch);
                assertNotNull(recorded, "stun " + epoch + " saw a recorded epoch");
                assertArrayEquals(recorded, agent.digestAt(epoch), "primary image at epoch " + epoch);
            }
            double committed = Replication.count(collectorMeters, "cpstream.collector.epochs.committed");
            assertTrue(committed >= EPOCHS, "committed " + committed);
            assertEquals(committed, Replication.count(collectorMeters, "cpstream.collector.digests.verified"),
                    "the collector checked its image against the primary's digest at every commit");
            assertEquals(0, Replication.count(collectorMeters, "cpstream.collector.digest.mismatches"));
            long last = Replication.committedEpochOnDisk(dataDir, "replay");
            assertArrayEquals(replay.expectedDigestAtStun(Math.min(last, EPOCHS)),
                    Replication.imageFileDigest(dataDir, "replay"), "the standby on disk is the recording's last image");
        }
    }
}
