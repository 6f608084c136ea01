package io.cpstream.cli;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentStats;
import io.cpstream.agent.StunConfig;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * End-to-end pipeline figures over loopback: checkpoints per second, stun (pause) and lag
 * percentiles, dirty pages per epoch and wire bytes per dirty page, measured after a warm-up that
 * covers the initial full sync. {@code --compare-stun} runs the same workload twice, copying every
 * dirty page inside the stun and with the history split, with the collector verifying its image
 * against the primary's digest at every epoch of both.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure checkpoint rate, pause, lag and wire bytes for a guest over loopback.")
final class BenchCommand implements Callable<Integer> {

    static final String DEFAULT_SOURCE = "sim:mem=64m,workload=mixed";
    /**
     * What {@code --compare-stun} runs unless told otherwise: a dirty set of mostly stable pages (a hot set
     * of 64 pages takes 10% of the writes; the rest append 1 KiB chunks to a log sweeping 16 MiB, so a
     * page is written in one burst and then not for about 7 epochs), about 600 dirty pages per 50 ms
     * epoch: what this pipeline sustains with the collector verifying a digest at every epoch.
     */
    static final String COMPARE_STUN_SOURCE = "sim:mem=16m,workload=stable,hot-pages=64,hot-share=10,rate=70000,outputs=100";
    static final long COMPARE_STUN_EPOCH_MS = 50;

    @Option(names = "--seconds", defaultValue = "20", description = "Measured duration (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--warmup-seconds", defaultValue = "2", description = "Unmeasured start, covering the full sync (default: ${DEFAULT-VALUE})")
    int warmupSeconds;

    @Option(names = "--source", description = "Guest to protect (default: " + DEFAULT_SOURCE + "; with --compare-stun "
            + COMPARE_STUN_SOURCE + ")")
    String source;

    @Option(names = "--epoch-ms", description = "Target time between checkpoints (default: 10; with --compare-stun "
            + COMPARE_STUN_EPOCH_MS + ")")
    Long epochMillis;

    @Option(names = "--split", defaultValue = "history", description = "What the stun copies: history (hot pages; stable "
            + "ones after the resume, copy-before-write) or copy-all (default: ${DEFAULT-VALUE})")
    String split;

    @Option(names = "--max-stun-ms", description = "Target maximum stun; epochs shorten to meet it")
    Double maxStunMillis;

    @Option(names = "--max-mbps", defaultValue = "0", description = "Bandwidth budget of the checkpoint stream in Mbit/s; epochs lengthen to meet it (0: none)")
    double maxMbps;

    @Option(names = "--verify", description = "Have the collector check its image against the primary's digest at every epoch (always on with --compare-stun)")
    boolean verify;

    @Option(names = "--compare-stun", description = "Run the workload with copy-all and with the history split, one after the other, digests verified at every epoch")
    boolean compareStun;

    @Option(names = "--compare-dirty", description = "Run a kvm source with dirty=bitmap, ring and pagemap, one after the "
            + "other (pagemap is reported as skipped where the kernel lacks it)")
    boolean compareDirty;

    @Option(names = "--json", description = "Print one JSON object as the last line")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (seconds < 1 || warmupSeconds < 0) {
            throw new Errors.UserError("--seconds must be at least 1 and --warmup-seconds at least 0");
        }
        String spec = source != null ? source : compareStun ? COMPARE_STUN_SOURCE : DEFAULT_SOURCE;
        long epochMs = epochMillis != null ? epochMillis : compareStun ? COMPARE_STUN_EPOCH_MS : 10;
        if (epochMs < 1) {
            throw new Errors.UserError("--epoch-ms must be at least 1");
        }
        StunConfig stun = AgentCommand.stunConfig(split, maxStunMillis, maxMbps);
        AgentConfig config = AgentConfig.of("unused", "bench-vm").withEpochInterval(Duration.ofMillis(epochMs))
                .withVerify(verify || compareStun);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("source", spec);
        result.put("seconds", seconds);
        result.put("epoch_ms_target", epochMs);
        if (compareStun && compareDirty) {
            throw new Errors.UserError("--compare-stun and --compare-dirty are separate runs; pick one");
        }
        if (compareDirty) {
            if (source == null || !source.startsWith("kvm:")) {
                throw new Errors.UserError("--compare-dirty needs a kvm source, e.g. --source kvm:guest=memtouch,mem=64m");
            }
            for (String mode : new String[] {"bitmap", "ring", "pagemap"}) {
                String modeSpec = withDirtyMode(spec, mode);
                java.util.Optional<String> missing = mode.equals("pagemap")
                        ? io.cpstream.tracker.kvm.KvmSource.pagemapUnavailableReason() : java.util.Optional.empty();
                if (missing.isPresent()) {
                    System.out.println("cpstream bench: skipping dirty=pagemap: " + missing.get());
                    result.put(mode, Map.of("skipped", missing.get()));
                } else {
                    Map<String, Object> figures = new LinkedHashMap<>();
                    figures.put("source", modeSpec);
                    figures.putAll(measure(modeSpec, config.withStun(stun), epochMs));
                    result.put(mode, figures);
                }
            }
        } else if (compareStun) {
            Map<String, Object> copyAll = measure(spec, config.withStun(stun.withSplit(StunConfig.Split.COPY_ALL)), epochMs);
            Map<String, Object> history = measure(spec, config.withStun(stun.withSplit(StunConfig.Split.HISTORY)), epochMs);
            result.put("copy_all", copyAll);
            result.put("history", history);
            double allP99 = (double) copyAll.get("pause_ms_p99");
            result.put("pause_p99_ratio", allP99 == 0 ? 0 : DemoCommand.round((double) history.get("pause_ms_p99") / allP99));
            result.put("digests_verified_every_epoch", (boolean) copyAll.get("digests_verified_every_epoch")
                    && (boolean) history.get("digests_verified_every_epoch"));
        } else {
            result.putAll(measure(spec, config.withStun(stun), epochMs));
        }
        if (json) {
            Json.print(System.out, result);
        } else {
            result.forEach((k, v) -> System.out.printf("%-30s %s%n", k, v));
        }
        return 0;
    }

    private Map<String, Object> measure(String spec, AgentConfig config, long epochMs) throws Exception {
        StunConfig stun = config.stun();
        Map<String, Object> result = new LinkedHashMap<>();
        LocalReplication replication;
        try (LocalReplication run = new LocalReplication(spec, null, config)) {
            replication = run;
            System.out.printf("cpstream bench: %s (%d MiB), epoch target %d ms, split %s%s%s, %d s warm-up + %d s measured%n",
                    spec, run.guest.memoryBytes() >> 20, epochMs, splitName(stun.split()),
                    stun.maxStun() == null ? "" : ", max stun " + stun.maxStun().toNanos() / 1e6 + " ms",
                    stun.maxMbps() == 0 ? "" : ", max " + stun.maxMbps() + " Mbit/s", warmupSeconds, seconds);
            run.start();
            run.run(Duration.ofSeconds(warmupSeconds), true, System.out);
            run.agent.resetStats();
            run.run(Duration.ofSeconds(seconds), json, System.out);
            AgentStats.Snapshot s = run.agent.stats();
            run.stopPrimary();
            result.put("split", splitName(stun.split()));
            result.put("copies_after_resume", run.agent.defersStablePages());
            result.put("checkpoints_per_s", DemoCommand.round(s.acknowledged() / (double) seconds));
            result.put("pause_ms_p50", DemoCommand.round(s.pauseMsP50()));
            result.put("pause_ms_p99", DemoCommand.round(s.pauseMsP99()));
            result.put("pause_ms_max", DemoCommand.round(s.pauseMsMax()));
            // The same stun figures in whole microseconds (the histogram keeps 3 significant digits).
            result.put("pause_us_p50", Math.round(s.pauseMsP50() * 1000));
            result.put("pause_us_p99", Math.round(s.pauseMsP99() * 1000));
            result.put("lag_ms_p50", DemoCommand.round(s.lagMsP50()));
            result.put("lag_ms_p99", DemoCommand.round(s.lagMsP99()));
            result.put("dirty_pages_per_epoch", perEpoch(s.dirtyPages(), s));
            result.put("deferred_pages_per_epoch", perEpoch(s.deferredPages(), s));
            result.put("cow_faults", s.cowFaults());
            result.put("wire_bytes_per_dirty_page", DemoCommand.round(s.pagesSent() == 0 ? 0 : s.wireBytes() / (double) s.pagesSent()));
            result.put("wire_mb_per_s", DemoCommand.round(s.wireBytes() / 1e6 / seconds));
            result.put("epoch_ms_last", DemoCommand.round(s.epochMsLast()));
            result.put("epoch_ms_min", DemoCommand.round(s.epochMsMin()));
            result.put("epoch_ms_max", DemoCommand.round(s.epochMsMax()));
            if (stun.maxStun() != null || stun.maxMbps() > 0) {
                result.put("stun_target_misses", s.stunTargetMisses());
                result.put("bandwidth_budget_misses", s.bandwidthExceeded());
                result.put("targets_met", s.stunTargetMisses() == 0 && s.bandwidthExceeded() == 0);
            }
        }
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

    /** The spec with its {@code dirty=} parameter set to {@code mode}. */
    static String withDirtyMode(String spec, String mode) {
        io.cpstream.tracker.SourceSpec parsed = io.cpstream.tracker.SourceSpec.parse(spec);
        Map<String, String> params = new LinkedHashMap<>(parsed.params());
        params.put("dirty", mode);
        return new io.cpstream.tracker.SourceSpec(parsed.kind(), params).toString();
    }

    private static double perEpoch(long total, AgentStats.Snapshot s) {
        return DemoCommand.round(s.checkpoints() == 0 ? 0 : total / (double) s.checkpoints());
    }

    private static String splitName(StunConfig.Split split) {
        return split == StunConfig.Split.HISTORY ? "history" : "copy-all";
    }
}
