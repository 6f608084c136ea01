package io.cpstream.harness.bench;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentStats;
import io.cpstream.agent.StunConfig;
import io.cpstream.config.Parsers;
import io.cpstream.harness.LocalReplication;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One benchmark pipeline: agent and collector over loopback ({@link LocalReplication}), a warm-up that covers the
 * full sync, then a measured window. Its figures: checkpoints per second, stun (pause) and lag percentiles, dirty
 * pages per epoch and wire bytes per dirty page, epoch lengths, and with a stun target or bandwidth budget whether
 * they were met; in verify mode, whether the collector verified every committed epoch against the primary's digest.
 */
public final class Pipeline {

    private Pipeline() {
    }

    /** Runs {@code settings.source()} with {@code config}; the figures of the measured window. */
    public static Map<String, Object> measure(BenchSettings settings, AgentConfig config) throws Exception {
        return measure(settings, settings.source(), config);
    }

    /** Runs {@code spec} with {@code config}; the figures of the measured window. */
    public static Map<String, Object> measure(BenchSettings settings, String spec, AgentConfig config)
            throws Exception {
        return measure(settings, spec, config, false);
    }

    /** Runs {@code spec} with {@code config}, over mutual TLS when {@code tls}; the figures of the measured window. */
    public static Map<String, Object> measure(BenchSettings settings, String spec, AgentConfig config, boolean tls)
            throws Exception {
        return measure(settings, spec, config, tls, null);
    }

    /**
     * What a comparison adds to one pipeline run ({@link ProtectComparison}): it configures and prepares the agent,
     * drives the guest, and measures beside the pipeline's own figures over the same window. One per run.
     */
    interface Extra extends AutoCloseable {
        /** The agent's configuration for this run. */
        AgentConfig configure(AgentConfig config);

        /** Before the agent starts. */
        void prepare(LocalReplication run) throws Exception;

        /** The measured window starts (true) or ends (false); it ends before the primary stops. */
        void window(boolean measuring);

        /** Its figures of the window, added to the run's. */
        void addFigures(Map<String, Object> result);

        @Override
        void close() throws Exception;
    }

    /** As {@link #measure(BenchSettings, String, AgentConfig, boolean)}, with {@code extra} (may be null) beside. */
    static Map<String, Object> measure(BenchSettings settings, String spec, AgentConfig config, boolean tls,
                                       Extra extra) throws Exception {
        try (Extra rig = extra) {
            return measureWith(settings, spec, rig == null ? config : rig.configure(config), tls, rig);
        }
    }

    private static Map<String, Object> measureWith(BenchSettings settings, String spec, AgentConfig config, boolean tls,
                                                   Extra extra) throws Exception {
        StunConfig stun = config.stun();
        Map<String, Object> result = new LinkedHashMap<>();
        LocalReplication replication;
        try (LocalReplication run = new LocalReplication(spec, null, config, (epoch, outputs) -> { }, tls)) {
            replication = run;
            if (extra != null) {
                extra.prepare(run);
            }
            settings.out().printf("cpstream bench: %s (%d MiB), %s encoding, epoch target %d ms, split %s%s%s, %d s "
                            + "warm-up%s + %d s measured%n", spec, run.guest.memoryBytes() >> 20, config.encoding().label(),
                    config.epochInterval().toMillis(), splitName(stun.split()),
                    stun.maxStun() == null ? "" : ", max stun " + stun.maxStun().toNanos() / 1e6 + " ms",
                    stun.maxMbps() == 0 ? "" : ", max " + stun.maxMbps() + " Mbit/s", settings.warmupSeconds(),
                    settings.waitsForJit() ? " (then until the JIT settles, " + settings.warmupMaxSeconds() + " s at most)"
                            : "", settings.seconds());
            run.start();
            if (settings.warmupEpochs() > 0) {
                runUntilAcknowledged(run, settings.warmupEpochs(), settings);
            } else {
                // The full sync first, however long it takes, then the warm-up proper: a window that opened while
                // the full sync was still on the wire counted its multi-second lag (and the first deltas' backlog
                // behind it) as steady-state lag.
                long syncStarted = System.nanoTime();
                runUntilAcknowledged(run, 1, settings);
                result.put("full_sync_ms", Figures.round((System.nanoTime() - syncStarted) / 1e6));
                long warmupStarted = System.nanoTime();
                run.run(Duration.ofSeconds(settings.warmupSeconds()), true, settings.out());
                if (settings.waitsForJit()) {
                    JitWarmup.settle(settings.jitWaitLimit(), List.of(JitWarmup::localCompileMillis),
                            length -> run.run(length, true, settings.out()));
                }
                result.put("warmup_s", Figures.round((System.nanoTime() - warmupStarted) / 1e9));
            }
            run.agent.resetStats();
            if (extra != null) {
                extra.window(true);
            }
            long jitBefore = JitWarmup.localCompileMillis();
            // A replayed trace may end before the window does: rates are over the time actually measured.
            double seconds = run.run(Duration.ofSeconds(settings.seconds()), settings.quiet(), settings.out())
                    .toNanos() / 1e9;
            AgentStats.Snapshot s = run.agent.stats();
            result.put("jit_ms_in_window", JitWarmup.localCompileMillis() - jitBefore);
            if (extra != null) {
                extra.window(false);
            }
            run.stopPrimary();
            result.put("split", splitName(stun.split()));
            result.put("copies_after_resume", run.agent.defersStablePages());
            result.put("seconds_measured", Figures.round(seconds));
            result.put("checkpoints_per_s", Figures.round(s.acknowledged() / seconds));
            result.put("pause_ms_p50", Figures.round(s.pauseMsP50()));
            result.put("pause_ms_p99", Figures.round(s.pauseMsP99()));
            result.put("pause_ms_max", Figures.round(s.pauseMsMax()));
            // The same stun figures in whole microseconds (the histogram keeps 3 significant digits).
            result.put("pause_us_p50", Math.round(s.pauseMsP50() * 1000));
            result.put("pause_us_p99", Math.round(s.pauseMsP99() * 1000));
            result.put("lag_ms_p50", Figures.round(s.lagMsP50()));
            result.put("lag_ms_p99", Figures.round(s.lagMsP99()));
            if (s.eventAcks() > 0) {
                // Record/replay: the input log's round trip, which an output waits for beyond its input's turn.
                result.put("event_ack_ms_p50", Figures.round(s.eventAckMsP50()));
                result.put("event_ack_ms_p99", Figures.round(s.eventAckMsP99()));
            }
            result.put("dirty_pages_per_epoch", Figures.round(perCheckpoint(s.dirtyPages(), s)));
            result.put("wire_bytes_per_dirty_page", Figures.round(s.pagesSent() == 0 ? 0
                    : s.wireBytes() / (double) s.pagesSent()));
            result.put("wire_mb_per_s", Figures.round(s.wireBytes() / 1e6 / seconds));
            result.put("deferred_pages_per_epoch", Figures.round(perCheckpoint(s.deferredPages(), s)));
            result.put("stun_pages_p50", s.stunPagesP50());
            result.put("stun_pages_p99", s.stunPagesP99());
            result.put("cow_faults", s.cowFaults());
            // Backpressure: boundaries the stream was too far behind to take a checkpoint at, merged into the next.
            result.put("merged_epochs", s.mergedEpochs());
            result.put("epoch_ms_last", Figures.round(s.epochMsLast()));
            result.put("epoch_ms_min", Figures.round(s.epochMsMin()));
            result.put("epoch_ms_max", Figures.round(s.epochMsMax()));
            if (stun.maxStun() != null || stun.maxMbps() > 0) {
                result.put("stun_target_misses", s.stunTargetMisses());
                result.put("bandwidth_budget_misses", s.bandwidthExceeded());
                result.put("targets_met", s.stunTargetMisses() == 0 && s.bandwidthExceeded() == 0);
            }
            if (extra != null) {
                extra.addFigures(result);
            }
        }
        // With everything stopped, so the copy has the machine to itself.
        StunFloor.addFigures(result, (long) result.get("stun_pages_p99"), (double) result.get("pause_ms_p99"));
        if (config.verify()) {
            // Read once the collector has stopped (no commit half counted), over the whole run, warm-up
            // included: every committed epoch was checked against the primary's digest at its stun.
            long committed = Math.round(replication.collectorCount("cpstream.collector.epochs.committed"));
            long verified = Math.round(replication.collectorCount("cpstream.collector.digests.verified"));
            long mismatches = Math.round(replication.collectorCount("cpstream.collector.digest.mismatches"));
            result.put("epochs_committed", committed);
            result.put("digests_verified", verified);
            result.put("digest_mismatches", mismatches);
            result.put("digests_verified_every_epoch", committed > 0 && verified == committed && mismatches == 0);
            result.put("pause_excludes_verify_scan", true);
        }
        return result;
    }

    /** Runs unmeasured until {@code epoch} is acknowledged (or the guest ends: a replayed trace may). */
    private static void runUntilAcknowledged(LocalReplication run, long epoch, BenchSettings settings)
            throws InterruptedException {
        while (run.agent.acknowledgedEpoch() < epoch && !run.guest.finished()) {
            run.run(Duration.ofMillis(20), true, settings.out());
        }
    }

    private static double perCheckpoint(long count, AgentStats.Snapshot s) {
        return s.checkpoints() == 0 ? 0 : count / (double) s.checkpoints();
    }

    private static String splitName(StunConfig.Split split) {
        return Parsers.writeChoice(split);
    }
}
