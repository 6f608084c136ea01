package io.cpstream.harness.bench;

import io.cpstream.agent.AgentConfig;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A whole {@code cpstream bench} run, as one JSON-ready map: what was run ({@code source}, {@code seconds},
 * {@code epoch_ms_target}, {@code encoding}), then the figures of its kind of run: one {@link Pipeline}, optionally
 * with a {@link ModeComparison} ({@code modes}) and an {@link EncoderComparison}; or a {@link StunComparison}; or a
 * {@link DirtyTrackerComparison}; or a {@link ProtectComparison}.
 */
public final class Bench {

    /** The kind of run; the stun and dirty-tracker comparisons are runs of their own. */
    public enum Kind { PIPELINE, COMPARE_MODES, COMPARE_STUN, COMPARE_DIRTY, MANY_VMS, ENCODERS_ONLY, COMPARE_PROTECT }

    private Bench() {
    }

    /**
     * Runs {@code kind} with {@code config}; {@code compareEncoders} adds the encoder comparison to a pipeline run
     * (with or without modes).
     */
    public static Map<String, Object> run(BenchSettings settings, AgentConfig config, Kind kind,
                                          boolean compareEncoders) throws Exception {
        return run(settings, config, kind, compareEncoders, 1);
    }

    /** As {@link #run(BenchSettings, AgentConfig, Kind, boolean)}; {@code vms} is how many VMs {@code MANY_VMS} runs. */
    public static Map<String, Object> run(BenchSettings settings, AgentConfig config, Kind kind,
                                          boolean compareEncoders, int vms) throws Exception {
        return run(settings, config, kind, compareEncoders, vms, java.util.Set.of());
    }

    /**
     * As {@link #run(BenchSettings, AgentConfig, Kind, boolean, int)}; {@code MANY_VMS} measures its VMs again
     * under {@code attacks} (none: not).
     */
    public static Map<String, Object> run(BenchSettings settings, AgentConfig config, Kind kind,
                                          boolean compareEncoders, int vms,
                                          java.util.Set<io.cpstream.harness.attack.Attack> attacks) throws Exception {
        return run(settings, config, kind, compareEncoders, vms, attacks, false);
    }

    /**
     * As {@link #run(BenchSettings, AgentConfig, Kind, boolean, int, java.util.Set)}; with {@code compareSharing},
     * {@code MANY_VMS} also runs its VMs on a collector with page sharing and reports the stored bytes of both and
     * whether every promoted image has its primary's digest ({@code sharing}).
     */
    public static Map<String, Object> run(BenchSettings settings, AgentConfig config, Kind kind,
                                          boolean compareEncoders, int vms,
                                          java.util.Set<io.cpstream.harness.attack.Attack> attacks,
                                          boolean compareSharing) throws Exception {
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("source", settings.source());
        result.put("seconds", settings.seconds());
        result.put("epoch_ms_target", config.epochInterval().toMillis());
        result.put("encoding", config.encoding().label());
        switch (kind) {
            case COMPARE_STUN -> result.putAll(StunComparison.run(settings, config));
            case COMPARE_DIRTY -> result.putAll(DirtyTrackerComparison.run(settings, config));
            case MANY_VMS -> result.putAll(ManyVms.run(settings, config, vms, attacks, compareSharing));
            case ENCODERS_ONLY -> result.putAll(EncoderComparison.run(settings, config));
            case COMPARE_PROTECT -> result.putAll(ProtectComparison.run(settings, config));
            case PIPELINE, COMPARE_MODES -> {
                Map<String, Object> main = Pipeline.measure(settings, config);
                result.putAll(main);
                if (kind == Kind.COMPARE_MODES) {
                    result.put("modes", ModeComparison.run(settings, config, main));
                }
                if (compareEncoders) {
                    result.putAll(EncoderComparison.run(settings, config));
                }
            }
        }
        return result;
    }

    /**
     * Adds to a pipeline run's {@code result} the same pipeline measured again with a busy process on every core
     * ({@link CpuHog}), under {@code cpu_hog}; {@code result} itself gains {@code lag_p99_over_epoch} so the two
     * compare side by side.
     */
    public static void addCpuHog(BenchSettings settings, AgentConfig config, Map<String, Object> result)
            throws Exception {
        result.put("lag_p99_over_epoch", Figures.lagP99OverEpoch(result));
        result.put("cpu_hog", CpuHog.measure(settings, config, result));
    }

    /** How long each link baseline runs: long enough for a steady rate, short beside the pipeline's window. */
    private static final java.time.Duration LINK_BASELINE = java.time.Duration.ofSeconds(3);

    /**
     * Adds to a pipeline run's {@code result} what the bare loopback link carries, measured now ({@link
     * LinkBaseline}), and {@code pipeline_over_link}: the bytes the pipeline put on the link per second ({@code
     * pipeline_mb_per_s}, its wire bytes, framing included) over the plain TCP stream's.
     */
    public static void addLinkBaseline(Map<String, Object> result) throws Exception {
        Map<String, Object> link = LinkBaseline.measure(LINK_BASELINE);
        result.putAll(link);
        Object pipeline = result.get("wire_mb_per_s");
        if (pipeline instanceof Number mbPerSecond) {
            result.put("pipeline_mb_per_s", mbPerSecond);
            result.put("pipeline_over_link", Figures.ratio(mbPerSecond, link.get("link_mb_per_s")));
            result.put("pipeline_over_grpc_link", Figures.ratio(mbPerSecond, link.get("grpc_link_mb_per_s")));
        }
    }
}
