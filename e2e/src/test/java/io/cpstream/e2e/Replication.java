package io.cpstream.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.kvm.KvmSource;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;

/** Test helpers: a collector and an agent wired over real loopback TCP, and checks of what they hold. */
final class Replication {

    static final Duration PATIENCE = Duration.ofSeconds(30);

    private Replication() {
    }

    static CollectorServer collector(Path dataDir, MeterRegistry registry) throws IOException {
        return CollectorServer.start(CollectorConfig.of("127.0.0.1", 0, dataDir), registry);
    }

    static CollectorServer collector(Path dataDir, int port, MeterRegistry registry) throws IOException {
        return CollectorServer.start(CollectorConfig.of("127.0.0.1", port, dataDir), registry);
    }

    /** Skips, saying why, where this backend cannot run: kvm without /dev/kvm, emu without libunicorn2. */
    static void assumeBackend(String kind) {
        Optional<String> reason = KvmSource.unavailableReason(kind);
        reason.ifPresent(r -> System.out.println("skipping " + kind + " test: " + r));
        Assumptions.assumeTrue(reason.isEmpty(), () -> kind + " unavailable: " + reason.orElse(""));
    }

    static MemorySource sim(String params) {
        return MemorySources.open("sim:" + params);
    }

    /** An agent in verify mode: every commit carries the guest's digest and the collector checks its image. */
    static Agent agent(int port, String vm, MemorySource source) {
        Agent agent = new Agent(AgentConfig.of("127.0.0.1:" + port, vm).withVerify(true), source,
                new SimpleMeterRegistry());
        agent.start();
        return agent;
    }

    static void awaitAcked(Agent agent, long epochs) {
        long target = agent.stats().acknowledged() + epochs;
        await().atMost(PATIENCE).until(() -> {
            if (agent.failure() != null) {
                throw new AssertionError("agent failed: " + agent.failure());
            }
            return agent.stats().acknowledged() >= target;
        });
    }

    static double count(MeterRegistry registry, String name) {
        var counter = registry.find(name).counter();
        return counter == null ? 0 : counter.count();
    }

    /** The guest's memory as it is now, page by page (a running guest's may change meanwhile: read it idle). */
    static byte[] image(MemorySource guest) {
        byte[] image = new byte[(int) guest.memoryBytes()];
        java.lang.foreign.MemorySegment dst = java.lang.foreign.MemorySegment.ofArray(image);
        for (int page = 0; page < guest.pageCount(); page++) {
            guest.copyPage(page, dst, (long) page * guest.pageSize());
        }
        return image;
    }

    /**
     * Waits until {@code sink}, a released-output log, holds at least {@code count} outputs of {@code vm}. If they never
     * come, the failure says how many did and prints every thread of this JVM (the agent's and the collector's run
     * here): a release that hangs once under the whole suite's load cannot be rerun to see where it waited.
     */
    static void awaitReleased(Path sink, String vm, int count, Duration patience) {
        try {
            await().atMost(patience).until(() -> io.cpstream.agent.output.OutputLog.read(sink, vm).size() >= count);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            StringBuilder threads = new StringBuilder("threads while waiting for released outputs:\n");
            for (java.lang.management.ThreadInfo info : java.lang.management.ManagementFactory.getThreadMXBean()
                    .dumpAllThreads(true, true)) {
                // ThreadInfo.toString() stops at 8 frames; the wait may be deeper.
                threads.append('"').append(info.getThreadName()).append("\" ").append(info.getThreadState());
                if (info.getLockName() != null) {
                    threads.append(" on ").append(info.getLockName()).append(" held by ").append(info.getLockOwnerName());
                }
                threads.append('\n');
                for (StackTraceElement frame : info.getStackTrace()) {
                    threads.append("    at ").append(frame).append('\n');
                }
            }
            System.out.println(threads);
            int released;
            try {
                released = io.cpstream.agent.output.OutputLog.read(sink, vm).size();
            } catch (Exception unreadable) {
                released = -1;
            }
            throw new AssertionError("the sink holds " + released + " released outputs of " + vm + " after "
                    + patience + ", not " + count + " (this JVM's threads are printed above)", e);
        }
    }

    /** SHA-256 of the standby image file of {@code vm}, read from disk. */
    static byte[] imageFileDigest(Path dataDir, String vm) throws IOException {
        return ImageDigest.sha256(Files.readAllBytes(dataDir.resolve("vms").resolve(vm).resolve("image.mem")));
    }

    /** The epoch the standby's files say is committed (its commit log), read without opening the standby. */
    static long committedEpochOnDisk(Path dataDir, String vm) throws IOException {
        return io.cpstream.collector.store.ImageStore.committedEpochOnDisk(dataDir.resolve("vms").resolve(vm));
    }

    /**
     * The standby on disk equals the primary's memory at the stun of the epoch it says it holds (I1),
     * once opened the way a restarted collector opens it (a stop can cut a commit short between seal
     * and commit log; opening replays the sealed journal).
     */
    static void assertImageIsCommittedEpoch(Path dataDir, String vm, Agent agent) throws IOException {
        io.cpstream.collector.store.ImageStore.open(dataDir.resolve("vms").resolve(vm),
                io.cpstream.collector.store.Durability.NONE).close();
        long epoch = committedEpochOnDisk(dataDir, vm);
        byte[] expected = agent.digestAt(epoch);
        assertNotNull(expected, "the agent kept no digest for epoch " + epoch);
        assertArrayEquals(expected, imageFileDigest(dataDir, vm),
                "image of " + vm + " on disk differs from the primary at epoch " + epoch);
    }
}
