package io.cpstream.cli;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentStats;
import io.cpstream.agent.EncodingMode;
import io.cpstream.encoder.compare.CodecComparison;
import io.cpstream.encoder.compare.CodecReport;
import io.cpstream.encoder.compare.CpstreamCodec;
import io.cpstream.encoder.compare.Lz4Codec;
import io.cpstream.encoder.compare.RawCodec;
import io.cpstream.encoder.compare.XbzrleCodec;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * End-to-end pipeline figures over loopback: checkpoints per second, stun (pause) and lag
 * percentiles, dirty pages per epoch and wire bytes per dirty page, measured after a warm-up that
 * covers the initial full sync. Optionally the same pipeline in full-page mode side by side
 * ({@code --compare-modes}), and the page encoders against their baselines over one captured sequence of
 * checkpoints ({@code --compare-encoders}).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure checkpoint rate, pause, lag and wire bytes for a guest over loopback.")
final class BenchCommand implements Callable<Integer> {

    static final String DEFAULT_SOURCE = "sim:mem=64m,workload=mixed";

    @Option(names = "--seconds", defaultValue = "20", description = "Measured duration (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--warmup-seconds", defaultValue = "2", description = "Unmeasured start, covering the full sync (default: ${DEFAULT-VALUE})")
    int warmupSeconds;

    @Option(names = "--warmup-epochs", defaultValue = "0", description = "Instead of --warmup-seconds, warm up until this "
            + "many checkpoints are acknowledged (a replayed trace: 1 covers the full sync without using up the trace)")
    long warmupEpochs;

    @Option(names = "--source", defaultValue = DEFAULT_SOURCE, description = "Guest to protect (default: ${DEFAULT-VALUE})")
    String source;

    @Option(names = "--epoch-ms", defaultValue = "10", description = "Target time between checkpoints (default: ${DEFAULT-VALUE})")
    long epochMillis;

    @Option(names = "--encoding", defaultValue = "cpstream", description = "How the agent encodes pages: cpstream, lz4 or full (default: ${DEFAULT-VALUE})")
    String encoding;

    @Option(names = "--delta-cache", defaultValue = "64m", description = "The agent's delta base cache, and the XBZRLE cache of --compare-encoders (default: ${DEFAULT-VALUE})")
    String deltaCache;

    @Option(names = "--compare-modes", description = "Also run the pipeline in full-page mode and in cpstream mode, one after the other, and report both (`modes`)")
    boolean compareModes;

    @Option(names = "--compare-encoders", description = "Also capture --seconds of checkpoints from a fresh --source and run raw, lz4, xbzrle and cpstream over exactly that sequence (`encoders`)")
    boolean compareEncoders;

    @Option(names = "--json", description = "Print one JSON object as the last line")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (seconds < 1 || warmupSeconds < 0) {
            throw new Errors.UserError("--seconds must be at least 1 and --warmup-seconds at least 0");
        }
        if (epochMillis < 1) {
            throw new Errors.UserError("--epoch-ms must be at least 1");
        }
        EncodingMode mode = EncodingMode.parse(encoding);
        long cacheBytes = ByteSize.parse(deltaCache, "--delta-cache");
        AgentConfig config = AgentConfig.of("unused", "bench-vm").withEpochInterval(Duration.ofMillis(epochMillis))
                .withEncoding(mode).withDeltaCacheBytes(cacheBytes);

        Map<String, Object> result = new LinkedHashMap<>();
        result.put("source", source);
        result.put("seconds", seconds);
        result.put("epoch_ms_target", epochMillis);
        result.put("encoding", mode.label());
        Map<String, Object> main = pipeline(config);
        result.putAll(main);
        if (compareModes) {
            Map<String, Object> modes = new LinkedHashMap<>();
            for (EncodingMode each : List.of(EncodingMode.FULL, EncodingMode.CPSTREAM)) {
                modes.put(each.label(), each == mode ? main : pipeline(config.withEncoding(each)));
            }
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
        if (json) {
            Json.print(System.out, result);
        } else {
            result.forEach((k, v) -> System.out.printf("%-26s %s%n", k, v));
        }
        return 0;
    }

    /** Runs agent and collector over loopback with {@code config}; the figures of the measured window. */
    private Map<String, Object> pipeline(AgentConfig config) throws Exception {
        try (LocalReplication run = new LocalReplication(source, null, config)) {
            System.out.printf("cpstream bench: %s (%d MiB), %s encoding, epoch target %d ms, %d s warm-up + %d s "
                    + "measured%n", source, run.guest.memoryBytes() >> 20, config.encoding().label(), epochMillis,
                    warmupSeconds, seconds);
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
            Map<String, Object> result = new LinkedHashMap<>();
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
            return result;
        }
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
