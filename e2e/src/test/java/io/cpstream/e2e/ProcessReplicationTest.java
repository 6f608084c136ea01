package io.cpstream.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A live redis-server under write load, protected by the process source: every commit carries the
 * SHA-256 of the process's memory read while it was stopped, and the collector checks its image against
 * it, so each committed standby equals the process at that stun (I1, I4).
 */
class ProcessReplicationTest {

    static final Duration PATIENCE = Duration.ofMinutes(3); // verify mode reads all memory in every stun

    @TempDir
    Path dataDir;

    @Test
    void standbyEqualsTheRedisProcessAtEveryCommittedEpoch() throws Exception {
        SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
        try (RedisServer redis = RedisServer.start()) {
            redis.startWriteLoad(1);
            try (CollectorServer collector = Replication.collector(dataDir, collectorMeters);
                 MemorySource guest = MemorySources.open("process:" + redis.pid());
                 Agent agent = new Agent(AgentConfig.of("127.0.0.1:" + collector.port(), "redis")
                         .withVerify(true).withEpochInterval(Duration.ofMillis(50)), guest, new SimpleMeterRegistry())) {
                agent.start();
                long writesBefore = redis.writes();
                await().atMost(PATIENCE).until(() -> {
                    if (agent.failure() != null) {
                        throw new AssertionError("agent failed: " + agent.failure());
                    }
                    return agent.stats().acknowledged() >= 12;
                });
                agent.close();
                collector.close();
                assertTrue(redis.writes() > writesBefore, "redis kept taking writes while replicated");
                double committed = Replication.count(collectorMeters, "cpstream.collector.epochs.committed");
                assertTrue(committed >= 12, "committed " + committed);
                assertEquals(committed, Replication.count(collectorMeters, "cpstream.collector.digests.verified"),
                        "every committed epoch was verified against the process's memory");
                assertEquals(0, Replication.count(collectorMeters, "cpstream.collector.digest.mismatches"));
                assertEquals(0, Replication.count(collectorMeters, "cpstream.collector.checksum.mismatches"));
                Replication.assertImageIsCommittedEpoch(dataDir, "redis", agent);
                System.out.printf("redis pid %d: %d epochs committed and verified, %d writes during replication, "
                        + "dirty pages %d in %d checkpoints, image %d MiB%n", redis.pid(), (long) committed,
                        redis.writes() - writesBefore, agent.stats().dirtyPages(), agent.stats().checkpoints(),
                        guest.memoryBytes() >> 20);
            }
            // Detaching resumed redis: it is not left stopped, and it still serves.
            String stat = Files.readString(Path.of("/proc", Integer.toString(redis.pid()), "stat"));
            assertNotEquals('T', stat.charAt(stat.lastIndexOf(')') + 2), "redis was left stopped");
            redis.assertHealthy();
        }
    }
}
