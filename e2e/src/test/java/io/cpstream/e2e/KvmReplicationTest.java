package io.cpstream.e2e;

import static io.cpstream.e2e.Replication.assertImageIsCommittedEpoch;
import static io.cpstream.e2e.Replication.count;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentStats;
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
 * ring (and userfaultfd's PAGEMAP_SCAN) as the source of dirty pages, with the agent's default history
 * split: stable pages are write-protected and copied after the resume where the source can. Skips,
 * saying why, where /dev/kvm is missing. The same guests on the emulated CPU ({@code emu:}, dirty pages
 * from userfaultfd's PAGEMAP_SCAN) run everywhere.
 *
 * <p>{@link #committedCheckpointsHoldStunValuesOfPagesWrittenRightAfterTheResume} is the copy-before-write
 * proof: memtouch writes its pages back to back, so after every resume it rewrites pages that were
 * protected at the stun before the agent copied them; each committed image still matches the digest
 * taken at its stun.
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
        "kvm:guest=memtouch,mem=8m,pages=8,stride=5,dirty=pagemap",
        "emu:guest=counter,mem=8m",
        "emu:guest=memtouch,mem=8m,pages=8,stride=5",
        "emu:guest=kv,mem=8m",
    })
    void standbyEqualsThePrimaryAtEveryCommittedEpoch(String spec) throws Exception {
        String kind = spec.substring(0, spec.indexOf(':'));
        Optional<String> unavailable = KvmSource.unavailableReason(kind);
        unavailable.ifPresent(reason -> System.out.println("skipping " + kind + " test: " + reason));
        Assumptions.assumeTrue(unavailable.isEmpty(), () -> kind + " unavailable: " + unavailable.orElse(""));
        if (spec.contains("dirty=pagemap")) {
            Optional<String> pagemap = KvmSource.pagemapUnavailableReason();
            pagemap.ifPresent(reason -> System.out.println("skipping dirty=pagemap test: " + reason));
            Assumptions.assumeTrue(pagemap.isEmpty(), () -> pagemap.orElse(""));
        }

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

    @org.junit.jupiter.api.Test
    void committedCheckpointsHoldStunValuesOfPagesWrittenRightAfterTheResume() throws Exception {
        Optional<String> unavailable = KvmSource.unavailableReason();
        unavailable.ifPresent(reason -> System.out.println("skipping KVM test: " + reason));
        Assumptions.assumeTrue(unavailable.isEmpty(), () -> "KVM unavailable: " + unavailable.orElse(""));
        SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
        // 64 pages a step, 4 MiB data region (1024 pages): a page comes round every 16 steps, so at each stun
        // most of the dirty set is stable (not written the epoch before) and is written again soon after.
        try (CollectorServer collector = Replication.collector(dataDir, collectorMeters);
             KvmSource guest = (KvmSource) MemorySources.open("kvm:guest=memtouch,mem=6m,pages=64,stride=1")) {
            Optional<String> noProtection = guest.protectionUnavailable();
            noProtection.ifPresent(reason -> System.out.println("skipping copy-before-write test: " + reason));
            Assumptions.assumeTrue(noProtection.isEmpty(), () -> noProtection.orElse(""));
            try (Agent agent = Replication.agent(collector.port(), "kvm-cow", guest)) {
                assertTrue(agent.defersStablePages());
                long started = System.nanoTime();
                await().atMost(Duration.ofSeconds(120)).until(() -> {
                    guest.fault().ifPresent(f -> {
                        throw new AssertionError("guest faulted: " + f);
                    });
                    if (agent.failure() != null) {
                        throw new AssertionError("agent failed: " + agent.failure());
                    }
                    AgentStats.Snapshot s = agent.stats();
                    // A copy-before-write fault needs the guest to write a deferred page while the agent is still
                    // copying it after the resume. A guest that makes few steps an epoch (likely a vCPU the host
                    // starved) may never do that: one fresh clone's run took 11,779 checkpoints in 120 s without
                    // one. Past 60 s of checkpoints without one, the digests are still checked below, and the case
                    // is reported as not exercised.
                    return s.acknowledged() >= EPOCHS
                            && (s.cowFaults() > 0 || System.nanoTime() - started > Duration.ofSeconds(60).toNanos());
                });
                AgentStats.Snapshot stats = agent.stats();
                agent.close();
                collector.close();
                double committed = count(collectorMeters, "cpstream.collector.epochs.committed");
                assertEquals(committed, count(collectorMeters, "cpstream.collector.digests.verified"));
                assertEquals(0, count(collectorMeters, "cpstream.collector.digest.mismatches"));
                assertImageIsCommittedEpoch(dataDir, "kvm-cow", agent);
                String notExercised = "the guest wrote no deferred page during its copy in 60 s of checkpoints ("
                        + stats.checkpoints() + " checkpoints, " + stats.deferredPages() + " pages deferred), "
                        + "likely a guest vCPU the host starved; every committed epoch's digest still matched";
                if (stats.cowFaults() == 0) {
                    System.out.println("skipping the copy-before-write case: " + notExercised);
                }
                Assumptions.assumeTrue(stats.cowFaults() > 0, notExercised);
                assertTrue(stats.deferredPages() > 0);
                System.out.printf("kvm history split: %d checkpoints, %d dirty pages, %d copied after the resume, "
                        + "%d copy-before-write faults%n", stats.checkpoints(), stats.dirtyPages(), stats.deferredPages(),
                        stats.cowFaults());
            }
        }
    }
}
