package io.cpstream.agent;

import static io.cpstream.agent.Replication.assertImageIsCommittedEpoch;
import static io.cpstream.agent.Replication.count;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.collector.CollectorServer;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.kvm.KvmSource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A real guest on /dev/kvm protected through agent and collector over loopback TCP: the agent sends
 * the primary's SHA-256 at every stun and the collector checks its standby after every commit, so the
 * standby equals the primary at each committed epoch (I1, I4), with KVM's dirty bitmap and its dirty
 * ring as the source of dirty pages. Skips, saying why, where /dev/kvm is missing.
 */
class KvmReplicationTest {

    private static final int EPOCHS = 15;

    @TempDir
    Path dataDir;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
        "kvm:guest=counter,mem=8m,dirty=bitmap",
        "kvm:guest=counter,mem=8m,dirty=ring",
        "kvm:guest=memtouch,mem=8m,pages=8,stride=5",
    })
    void standbyEqualsThePrimaryAtEveryCommittedEpoch(String spec) throws Exception {
        Optional<String> unavailable = KvmSource.unavailableReason();
        unavailable.ifPresent(reason -> System.out.println("skipping KVM test: " + reason));
        Assumptions.assumeTrue(unavailable.isEmpty(), () -> "KVM unavailable: " + unavailable.orElse(""));

        SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
        try (CollectorServer collector = Replication.collector(dataDir, collectorMeters);
             KvmSource guest = (KvmSource) MemorySources.open(spec);
             Agent agent = Replication.agent(collector.port(), "kvm-vm", guest)) {
            await().atMost(Duration.ofSeconds(120)).until(() -> {
                guest.fault().ifPresent(f -> {
                    throw new AssertionError("guest faulted: " + f);
                });
                if (agent.failure() != null) {
                    throw new AssertionError("agent failed: " + agent.failure());
                }
                return agent.stats().acknowledged() >= EPOCHS;
            });
            agent.close();
            collector.close(); // quiescent: nothing is mid-commit while the files are read
            double committed = count(collectorMeters, "cpstream.collector.epochs.committed");
            assertTrue(committed >= EPOCHS, "committed " + committed);
            assertEquals(committed, count(collectorMeters, "cpstream.collector.digests.verified"),
                    "every committed epoch was verified against the primary's digest");
            assertEquals(0, count(collectorMeters, "cpstream.collector.digest.mismatches"));
            assertEquals(0, count(collectorMeters, "cpstream.collector.checksum.mismatches"));
            assertImageIsCommittedEpoch(dataDir, "kvm-vm", agent);
        }
    }
}
