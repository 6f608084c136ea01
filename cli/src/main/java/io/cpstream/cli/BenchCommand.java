package io.cpstream.cli;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentKeys;
import io.cpstream.agent.AgentStats;
import io.cpstream.agent.EncodingMode;
import io.cpstream.agent.StunConfig;
import io.cpstream.config.ConfigKey;
import io.cpstream.encoder.compare.CodecComparison;
import io.cpstream.encoder.compare.CodecReport;
import io.cpstream.encoder.compare.CpstreamCodec;
import io.cpstream.encoder.compare.Lz4Codec;
import io.cpstream.encoder.compare.RawCodec;
import io.cpstream.encoder.compare.XbzrleCodec;
import io.cpstream.harness.LocalReplication;
import io.cpstream.harness.SourceCheckpoints;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.kvm.KvmSource;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * End-to-end pipeline figures over loopback: checkpoints per second, stun (pause) and lag
 * percentiles, dirty pages per epoch and wire bytes per dirty page, measured after a warm-up that
 * covers the initial full sync. Optionally the same pipeline in full-page mode side by side
 * ({@code --compare-modes}), and the page encoders against their baselines over one captured sequence of
 * checkpoints ({@code --compare-encoders}). {@code --compare-stun} runs one workload copying every dirty
 * page inside the stun and with the history split, the collector verifying its image against the
 * primary's digest at every epoch of both; {@code --compare-dirty} runs a kvm source with each dirty
 * tracker (KVM's bitmap and ring, userfaultfd's PAGEMAP_SCAN).
 */
@Command(name = "bench", mixinStandardHelpOptions = true, modelTransformer = KeyedOptions.class,
        description = "Measure checkpoint rate, pause, lag and wire bytes for a guest over loopback.")
final class BenchCommand implements Callable<Integer>, KeyedOptions.Keyed {

    /**
     * What {@code --compare-stun} runs unless told otherwise: a dirty set of mostly stable pages (a hot set
     * of 64 pages takes 10% of the writes; the rest append 1 KiB chunks to a log sweeping 16 MiB, so a
     * page is written in one burst and then not for about 7 epochs), about 600 dirty pages per 50 ms
     * epoch: what this pipeline sustains with the collector verifying a digest at every epoch.
     */
    static final String COMPARE_STUN_SOURCE = "sim:mem=16m,workload=stable,hot-pages=64,hot-share=10,rate=70000,outputs=100";
    static final long COMPARE_STUN_EPOCH_MS = 50;

    @Spec
    CommandSpec spec;

    @Option(names = "--seconds", defaultValue = "20", description = "Measured duration (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--warmup-seconds", defaultValue = "2", description = "Unmeasured start, covering the full sync (default: ${DEFAULT-VALUE})")
    int warmupSeconds;

    @Option(names = "--warmup-epochs", defaultValue = "0", description = "Instead of --warmup-seconds, warm up until this "
            + "many checkpoints are acknowledged (a replayed trace: 1 covers the full sync without using up the trace)")
    long warmupEpochs;

    // The agent's settings (AgentKeys): default and doc from the key, the description here is a note for bench.
    @Option(names = "--source", description = "with --compare-stun " + COMPARE_STUN_SOURCE)
    String source;

    @Option(names = "--epoch-ms", description = "with --compare-stun " + COMPARE_STUN_EPOCH_MS)
    long epochMillis;

    @Option(names = "--split")
    StunConfig.Split split;

    @Option(names = "--max-stun-ms")
    Double maxStunMillis;

    @Option(names = "--max-mbps")
    double maxMbps;

    @Option(names = "--verify", description = "always on with --compare-stun")
    boolean verify;

    @Option(names = "--compare-stun", description = "Run the workload with copy-all and with the history split: once each unmeasured (JIT warm-up), then copy-all, history, history, copy-all (each reports the mean of its two runs), digests verified at every epoch (`copy_all`, `history`)")
    boolean compareStun;

    @Option(names = "--compare-dirty", description = "Run a kvm --source with dirty=bitmap, ring and pagemap, one after the "
            + "other (pagemap is reported as skipped where the kernel lacks it)")
    boolean compareDirty;

    @Option(names = "--encoding")
    EncodingMode encoding;

    @Option(names = "--delta-cache", description = "also the XBZRLE cache of --compare-encoders")
    long deltaCache;

    @Option(names = "--compare-modes", description = "Also run the pipeline in full-page mode and in cpstream mode: once each unmeasured (JIT warm-up), then twice each in the order A B B A, and report the mean of each (`modes`)")
    boolean compareModes;

    @Option(names = "--compare-encoders", description = "Also capture --seconds of checkpoints from a fresh --source and run raw, lz4, xbzrle and cpstream over exactly that sequence (`encoders`)")
    boolean compareEncoders;

    @Option(names = "--json", description = "Print one JSON object as the last line")
    boolean json;

    @Override
    public List<ConfigKey<?>> keys() {
        return List.of(AgentKeys.SOURCE, AgentKeys.EPOCH_MS, AgentKeys.SPLIT, AgentKeys.MAX_STUN_MS, AgentKeys.MAX_MBPS,
                AgentKeys.VERIFY, AgentKeys.ENCODING, AgentKeys.DELTA_CACHE);
    }

    @Override
    public Integer call() throws Exception {
        if (seconds < 1 || warmupSeconds < 0) {
            throw new Errors.UserError("--seconds must be at least 1 and --warmup-seconds at least 0");
        }
        var given = spec.commandLine().getParseResult();
        if (compareStun && !given.hasMatchedOption("--source")) {
            source = COMPARE_STUN_SOURCE;
        }
        if (compareStun && !given.hasMatchedOption("--epoch-ms")) {
            epochMillis = COMPARE_STUN_EPOCH_MS;
        }
        if ((compareStun ? 1 : 0) + (compareDirty ? 1 : 0) + (compareModes ? 1 : 0) > 1) {
            throw new Errors.UserError("--compare-stun, --compare-dirty and --compare-modes are separate runs; pick one");
        }
        if (compareDirty && !source.startsWith("kvm:")) {
            throw new Errors.UserError("--compare-dirty needs a kvm --source, e.g. kvm:guest=memtouch,mem=64m");
        }
        StunConfig stun = AgentCommand.stunConfig(split, maxStunMillis, maxMbps);
        EncodingMode mode = encoding;
        long cacheBytes = deltaCache;
        AgentConfig config = AgentConfig.of("unused", "bench-vm").withEpochInterval(Duration.ofMillis(epochMillis))
                .withEncoding(mode).withDeltaCacheBytes(cacheBytes).withVerify(verify || compareStun).withStun(stun);

        Map<String, Object> result = new LinkedHashMap<>();
        result.put("source", source);
        result.put("seconds", seconds);
        result.put("epoch_ms_target", epochMillis);
        result.put("encoding", mode.label());
        if (compareStun) {
            List<Map<String, Object>> both = mirrored(config.withStun(stun.withSplit(StunConfig.Split.COPY_ALL)),
                    config.withStun(stun.withSplit(StunConfig.Split.HISTORY)), null);
            Map<String, Object> copyAll = both.get(0);
            Map<String, Object> history = both.get(1);
            result.put("copy_all", copyAll);
            result.put("history", history);
            result.put("pause_p99_ratio", ratio(history.get("pause_ms_p99"), copyAll.get("pause_ms_p99")));
            result.put("digests_verified_every_epoch", (boolean) copyAll.get("digests_verified_every_epoch")
                    && (boolean) history.get("digests_verified_every_epoch"));
            print(result);
            return 0;
        }
        if (compareDirty) {
            for (String tracker : List.of("bitmap", "ring", "pagemap")) {
                String spec = withDirtyMode(source, tracker);
                Optional<String> missing = tracker.equals("pagemap") ? KvmSource.pagemapUnavailableReason() : Optional.empty();
                if (missing.isPresent()) {
                    System.out.println("cpstream bench: skipping dirty=pagemap: " + missing.get());
                    result.put(tracker, Map.of("skipped", missing.get()));
                } else {
                    Map<String, Object> figures = new LinkedHashMap<>();
                    figures.put("source", spec);
                    figures.putAll(pipeline(spec, config));
                    result.put(tracker, figures);
                }
            }
            print(result);
            return 0;
        }
        Map<String, Object> main = pipeline(source, config);
        result.putAll(main);
        if (compareModes) {
            Map<String, Object> modes = compareModes(config, mode, main);
            Map<?, ?> full = (Map<?, ?>) modes.get("full");
            Map<?, ?> cpstream = (Map<?, ?>) modes.get("cpstream");
            modes.put("cpstream_vs_full_checkpoints_per_s", ratio(cpstream.get("checkpoints_per_s"),
                    full.get("checkpoints_per_s")));
            modes.put("cpstream_vs_full_wire_bytes_per_dirty_page", ratio(cpstream.get("wire_bytes_per_dirty_page"),
                    full.get("wire_bytes_per_dirty_page")));
            result.put("modes", modes);
        }
        if (compareEncoders) {
            result.putAll(compareEncoders(cacheBytes));
        }
        print(result);
        return 0;
    }

    private void print(Map<String, Object> result) {
        if (json) {
            Json.print(System.out, result);
        } else {
            result.forEach((k, v) -> System.out.printf("%-26s %s%n", k, v));
        }
    }

    /** The spec with its {@code dirty=} parameter set to {@code tracker}. */
    static String withDirtyMode(String spec, String tracker) {
        SourceSpec parsed = SourceSpec.parse(spec);
        Map<String, String> params = new LinkedHashMap<>(parsed.params());
        params.put("dirty", tracker);
        return new SourceSpec(parsed.kind(), params).toString();
    }

    /**
     * Full-page and cpstream mode, each run twice in the order A B B A (A = the mode asked for, or full), see
     * {@link #mirrored}.
     */
    private Map<String, Object> compareModes(AgentConfig config, EncodingMode mode, Map<String, Object> main)
            throws Exception {
        EncodingMode first = mode == EncodingMode.CPSTREAM ? EncodingMode.CPSTREAM : EncodingMode.FULL;
        EncodingMode second = first == EncodingMode.FULL ? EncodingMode.CPSTREAM : EncodingMode.FULL;
        List<Map<String, Object>> both = mirrored(config.withEncoding(first), config.withEncoding(second),
                first == mode ? main : null);
        Map<String, Object> modes = new LinkedHashMap<>();
        modes.put(EncodingMode.FULL.label(), both.get(first == EncodingMode.FULL ? 0 : 1));
        modes.put(EncodingMode.CPSTREAM.label(), both.get(first == EncodingMode.CPSTREAM ? 0 : 1));
        return modes;
    }

    /**
     * Runs {@code a} and {@code b} once each unmeasured, then twice each in the order A B B A, each in a fresh
     * pipeline of this same JVM, and returns the mean figures of A's runs and of B's. Measured runs with a cold JIT
     * on a loaded 2-core machine were 2-4 times slower or noisier than warm ones, so an A-then-B pair measured
     * the order more than A and B; after the warm-up pass the mirrored order still evens out what drifts.
     * {@code aDone}, when given, is A's unmeasured run (the caller's own pipeline, which served as A's warm-up).
     */
    private List<Map<String, Object>> mirrored(AgentConfig a, AgentConfig b, Map<String, Object> aDone)
            throws Exception {
        if (aDone == null) {
            // Not measured: the first pipelines in a JVM run while the compiler competes for the cores, for
            // tens of seconds on 2 cores, and whichever configuration ran first looked slow or noisy.
            pipeline(source, a);
        }
        pipeline(source, b);
        List<Map<String, Object>> aRuns = new java.util.ArrayList<>();
        List<Map<String, Object>> bRuns = new java.util.ArrayList<>();
        aRuns.add(pipeline(source, a));
        bRuns.add(pipeline(source, b));
        bRuns.add(pipeline(source, b));
        aRuns.add(pipeline(source, a));
        return List.of(meanOf(aRuns), meanOf(bRuns));
    }

    /**
     * Field by field mean of runs with the same fields: numbers averaged, a yes/no holds only if it held in every
     * run (digests verified), anything else is a setting the runs share. Plus each run's checkpoint rate and pause p99.
     */
    private static Map<String, Object> meanOf(List<Map<String, Object>> runs) {
        Map<String, Object> mean = new LinkedHashMap<>();
        for (String field : runs.get(0).keySet()) {
            Object first = runs.get(0).get(field);
            if (first instanceof Boolean) {
                mean.put(field, runs.stream().allMatch(run -> Boolean.TRUE.equals(run.get(field))));
            } else if (first instanceof Number) {
                double sum = 0;
                for (Map<String, Object> run : runs) {
                    sum += ((Number) run.get(field)).doubleValue();
                }
                mean.put(field, DemoCommand.round(sum / runs.size()));
            } else {
                mean.put(field, first);
            }
        }
        mean.put("checkpoints_per_s_runs", runs.stream().map(r -> r.get("checkpoints_per_s")).toList());
        mean.put("pause_ms_p99_runs", runs.stream().map(r -> r.get("pause_ms_p99")).toList());
        return mean;
    }

    /** Runs agent and collector over loopback with {@code config}; the figures of the measured window. */
    private Map<String, Object> pipeline(String spec, AgentConfig config) throws Exception {
        StunConfig stun = config.stun();
        Map<String, Object> result = new LinkedHashMap<>();
        LocalReplication replication;
        try (LocalReplication run = new LocalReplication(spec, null, config)) {
            replication = run;
            System.out.printf("cpstream bench: %s (%d MiB), %s encoding, epoch target %d ms, split %s%s%s, %d s warm-up + "
                    + "%d s measured%n", spec, run.guest.memoryBytes() >> 20, config.encoding().label(), epochMillis,
                    splitName(stun.split()), stun.maxStun() == null ? "" : ", max stun " + stun.maxStun().toNanos() / 1e6 + " ms",
                    stun.maxMbps() == 0 ? "" : ", max " + stun.maxMbps() + " Mbit/s", warmupSeconds, seconds);
            run.start();
            if (warmupEpochs > 0) {
                while (run.agent.acknowledgedEpoch() < warmupEpochs && !run.guest.finished()) {
                    run.run(Duration.ofMillis(20), true, System.out);
                }
            } else {
                run.run(Duration.ofSeconds(warmupSeconds), true, System.out);
            }
            run.agent.resetStats();
            // A replayed trace may end before --seconds: rates are over the time actually measured.
            double seconds = run.run(Duration.ofSeconds(this.seconds), json, System.out).toNanos() / 1e9;
            AgentStats.Snapshot s = run.agent.stats();
            run.stopPrimary();
            result.put("split", splitName(stun.split()));
            result.put("copies_after_resume", run.agent.defersStablePages());
            result.put("seconds_measured", DemoCommand.round(seconds));
            result.put("checkpoints_per_s", DemoCommand.round(s.acknowledged() / (double) seconds));
            result.put("pause_ms_p50", DemoCommand.round(s.pauseMsP50()));
            result.put("pause_ms_p99", DemoCommand.round(s.pauseMsP99()));
            result.put("pause_ms_max", DemoCommand.round(s.pauseMsMax()));
            // The same stun figures in whole microseconds (the histogram keeps 3 significant digits).
            result.put("pause_us_p50", Math.round(s.pauseMsP50() * 1000));
            result.put("pause_us_p99", Math.round(s.pauseMsP99() * 1000));
            result.put("lag_ms_p50", DemoCommand.round(s.lagMsP50()));
            result.put("lag_ms_p99", DemoCommand.round(s.lagMsP99()));
            result.put("dirty_pages_per_epoch", DemoCommand.round(s.checkpoints() == 0 ? 0 : s.dirtyPages() / (double) s.checkpoints()));
            result.put("wire_bytes_per_dirty_page", DemoCommand.round(s.pagesSent() == 0 ? 0 : s.wireBytes() / (double) s.pagesSent()));
            result.put("wire_mb_per_s", DemoCommand.round(s.wireBytes() / 1e6 / seconds));
            result.put("deferred_pages_per_epoch", DemoCommand.round(s.checkpoints() == 0 ? 0 : s.deferredPages() / (double) s.checkpoints()));
            result.put("cow_faults", s.cowFaults());
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

    private static String splitName(StunConfig.Split split) {
        return split == StunConfig.Split.HISTORY ? "history" : "copy-all";
    }

    /**
     * Captures checkpoints from a fresh guest of the same spec, one epoch of guest activity each, and runs every
     * codec over exactly that sequence, starting with the full sync (reported apart).
     */
    private Map<String, Object> compareEncoders(long cacheBytes) throws Exception {
        int checkpoints = (int) Math.max(1, seconds * 1000L / epochMillis);
        try (MemorySource guest = MemorySources.open(source);
             SourceCheckpoints capture = new SourceCheckpoints(guest, epochMillis);
             CodecComparison comparison = new CodecComparison(guest.pageSize(), guest.pageCount(), List.of(
                     new RawCodec(guest.pageSize()), new Lz4Codec(guest.pageSize()),
                     new XbzrleCodec(guest.pageSize(), cacheBytes),
                     new CpstreamCodec(guest.pageSize(), guest.pageCount(), cacheBytes)))) {
            System.out.printf("cpstream bench: comparing encoders over a full sync and %d checkpoints of %s%n",
                    checkpoints, source);
            // A replayed trace ends when its recording does, whatever --seconds says.
            for (int i = 0; i <= checkpoints && !guest.finished(); i++) {
                comparison.run(capture.next());
            }
            Map<String, Object> encoders = new LinkedHashMap<>();
            long dirtyPages = 0;
            for (CodecReport report : comparison.reports()) {
                Map<String, Object> figures = new LinkedHashMap<>();
                figures.put("wire_bytes", report.wireBytes());
                figures.put("bytes_per_dirty_page", DemoCommand.round(report.bytesPerDirtyPage()));
                figures.put("encode_mb_per_s", DemoCommand.round(report.encodeMBps()));
                figures.put("decode_mb_per_s", DemoCommand.round(report.decodeMBps()));
                figures.put("full_sync_wire_bytes", report.fullSyncWireBytes());
                Map<String, Long> records = new LinkedHashMap<>();
                report.records().forEach((encoding, count) -> records.put(encoding.name().toLowerCase(), count));
                figures.put("records", records);
                encoders.put(report.name(), figures);
                dirtyPages = report.dirtyPages();
                if (!json) {
                    System.out.println(report);
                }
            }
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("encoders_checkpoints", checkpoints);
            result.put("encoders_dirty_pages", dirtyPages);
            result.put("encoders_changed_bytes", comparison.changedBytes());
            result.put("encoders", encoders);
            result.put("cpstream_vs_xbzrle_wire_bytes", ratio(wire(encoders, "cpstream"), wire(encoders, "xbzrle")));
            result.put("cpstream_vs_lz4_wire_bytes", ratio(wire(encoders, "cpstream"), wire(encoders, "lz4")));
            result.put("cpstream_vs_changed_bytes", ratio(wire(encoders, "cpstream"), comparison.changedBytes()));
            return result;
        }
    }

    private static Object wire(Map<String, Object> encoders, String name) {
        return ((Map<?, ?>) encoders.get(name)).get("wire_bytes");
    }

    private static double ratio(Object numerator, Object denominator) {
        double d = ((Number) denominator).doubleValue();
        return d == 0 ? 0 : Math.round(((Number) numerator).doubleValue() / d * 1000) / 1000.0;
    }
}
