package io.cpstream.cli;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentStats;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * End-to-end pipeline figures over loopback: checkpoints per second, stun (pause) and lag
 * percentiles, dirty pages per epoch and wire bytes per dirty page, measured after a warm-up that
 * covers the initial full sync.
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

    @Option(names = "--json", description = "Print one JSON object as the last line")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (seconds < 1 || warmupSeconds < 0) {
            throw new Errors.UserError("--seconds must be at least 1 and --warmup-seconds at least 0");
        }
        AgentConfig config = AgentConfig.of("unused", "bench-vm").withEpochInterval(Duration.ofMillis(epochMillis));
        try (LocalReplication run = new LocalReplication(source, null, config)) {
            System.out.printf("cpstream bench: %s (%d MiB), epoch target %d ms, %d s warm-up + %d s measured%n", source,
                    run.guest.memoryBytes() >> 20, epochMillis, warmupSeconds, seconds);
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
            result.put("source", source);
            result.put("seconds", DemoCommand.round(seconds));
            result.put("epoch_ms_target", epochMillis);
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
            if (json) {
                Json.print(System.out, result);
            } else {
                result.forEach((k, v) -> System.out.printf("%-26s %s%n", k, v));
            }
        }
        return 0;
    }
}
