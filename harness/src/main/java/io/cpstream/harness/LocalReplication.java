package io.cpstream.harness;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentStats;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.security.Pki;
import io.cpstream.security.PkiException;
import io.cpstream.security.TlsSettings;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.OutputTap;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A collector and an agent in one process, talking over loopback TCP exactly as they would between
 * two hosts: what {@code demo} and {@code bench} run.
 */
public final class LocalReplication implements AutoCloseable {

    public final Path dataDir;
    public final MemorySource guest;
    public final CollectorServer collector;
    /** The collector's meters (epochs committed, digests verified, mismatches). */
    public final SimpleMeterRegistry collectorMeters = new SimpleMeterRegistry();
    public final Agent agent;
    /** How an operator reaches the collector: an admin certificate of this run, or plaintext. */
    public final TlsSettings adminTls;
    private final boolean deleteDataDir;
    private boolean primaryStopped;

    /** Replicates {@code sourceSpec}; the agent holds its outputs until committed and releases them to its sink. */
    public LocalReplication(String sourceSpec, Path dataDirOrNull, AgentConfig template) throws IOException {
        this(sourceSpec, dataDirOrNull, template, (epoch, outputs) -> { });
    }

    /** @param outputs sees the guest's outputs as the agent takes them at each stun, each with its epoch */
    public LocalReplication(String sourceSpec, Path dataDirOrNull, AgentConfig template, OutputTap.Listener outputs)
            throws IOException {
        this(sourceSpec, dataDirOrNull, template, outputs, false);
    }

    /**
     * @param tls mutual TLS between agent and collector, with certificates of a CA made for this run (under the
     *            data directory, {@code pki/}); false: plaintext
     */
    public LocalReplication(String sourceSpec, Path dataDirOrNull, AgentConfig template, OutputTap.Listener outputs,
                            boolean tls) throws IOException {
        this(sourceSpec, dataDirOrNull, template, outputs, tls, config -> config);
    }

    /** @param collectorSettings changes the collector's defaults (with the data directory and a free port) */
    public LocalReplication(String sourceSpec, Path dataDirOrNull, AgentConfig template, OutputTap.Listener outputs,
                            boolean tls, java.util.function.UnaryOperator<CollectorConfig> collectorSettings)
            throws IOException {
        this.deleteDataDir = dataDirOrNull == null;
        this.dataDir = dataDirOrNull == null ? Files.createTempDirectory("cpstream-") : dataDirOrNull;
        Pki.Throwaway identities = null;
        if (tls) {
            try {
                identities = Pki.throwaway(dataDir.resolve("pki"), template.vmId());
            } catch (PkiException e) {
                throw new IOException("cannot make this run's certificates: " + e.getMessage(), e);
            }
        }
        this.adminTls = tls ? identities.admin() : TlsSettings.INSECURE;
        this.guest = new OutputTap(MemorySources.open(sourceSpec), outputs);
        try {
            CollectorConfig config = collectorSettings.apply(CollectorConfig.of("127.0.0.1", 0, dataDir));
            this.collector = CollectorServer.start(tls ? config.withTls(identities.collector()) : config,
                    collectorMeters);
        } catch (IOException | RuntimeException e) {
            guest.close();
            throw e;
        }
        AgentConfig agentConfig = template.withCollector("127.0.0.1:" + collector.port());
        this.agent = new Agent(tls ? agentConfig.withTls(identities.agent()) : agentConfig, guest,
                new SimpleMeterRegistry());
    }

    /** A counter of the collector's meters, 0 if it was never registered. */
    public double collectorCount(String name) {
        var counter = collectorMeters.find(name).counter();
        return counter == null ? 0 : counter.count();
    }

    public void start() {
        agent.start();
    }

    /** Waits until the collector has committed a first epoch; fails if the agent stops or it takes too long. */
    public void awaitFirstCommit(Duration patience) throws InterruptedException {
        long end = System.nanoTime() + patience.toNanos();
        while (agent.acknowledgedEpoch() == 0) {
            if (agent.awaitTermination(Duration.ofMillis(20))) {
                throw new HarnessException("the agent stopped: " + (agent.failure() == null ? "closed"
                        : Agent.describe(agent.failure())));
            }
            if (System.nanoTime() > end) {
                throw new HarnessException("no epoch was committed within " + patience.toSeconds() + " s");
            }
        }
    }

    /**
     * Lets replication run for {@code duration}, or until the guest finishes (a replayed trace at its
     * end), printing a progress line a second unless {@code quiet}; returns how long it ran. Fails early
     * if the agent stops on its own.
     */
    public Duration run(Duration duration, boolean quiet, PrintStream out) throws InterruptedException {
        long end = System.nanoTime() + duration.toNanos();
        long started = System.nanoTime();
        long nextReport = started + 1_000_000_000L;
        while (System.nanoTime() < end && !guest.finished()) {
            long wait = Math.min(Math.min(end, nextReport) - System.nanoTime(), 100_000_000L); // finished() is polled
            if (agent.awaitTermination(Duration.ofNanos(Math.max(wait, 1_000_000)))) {
                throw new HarnessException("the agent stopped: " + (agent.failure() == null ? "closed"
                        : Agent.describe(agent.failure())));
            }
            if (!quiet && System.nanoTime() >= nextReport) {
                nextReport += 1_000_000_000L;
                AgentStats.Snapshot s = agent.stats();
                double seconds = (System.nanoTime() - started) / 1e9;
                out.printf("%5.1fs  epoch %-6d %6.1f ckpt/s  pause p50 %6.2f ms p99 %6.2f ms  lag p50 %6.1f ms  %7.1f MB/s%n",
                        seconds, agent.acknowledgedEpoch(), s.acknowledged() / seconds, s.pauseMsP50(), s.pauseMsP99(),
                        s.lagMsP50(), s.wireBytes() / seconds / 1e6);
            }
        }
        return Duration.ofNanos(System.nanoTime() - started);
    }

    /** Takes the primary down, agent and guest, as a failed host would; the collector keeps running. */
    public void stopPrimary() {
        if (primaryStopped) {
            return;
        }
        primaryStopped = true;
        try {
            agent.close();
        } finally {
            guest.close();
        }
    }

    @Override
    public void close() throws IOException {
        try {
            stopPrimary();
        } finally {
            try {
                collector.close();
            } finally {
                if (deleteDataDir) {
                    Directories.deleteTree(dataDir);
                }
            }
        }
    }
}
