package io.cpstream.harness.bench;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.EncodingMode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code bench --compare-modes}: the pipeline in full-page mode and in cpstream mode, {@link Mirrored} (A = the mode
 * asked for, or full), and how cpstream compares in checkpoints per second and wire bytes per dirty page.
 */
public final class ModeComparison {

    private ModeComparison() {
    }

    /**
     * {@code full} and {@code cpstream} with their ratios; {@code main} is the figures of the caller's pipeline with
     * {@code config}, which serves as the warm-up of its mode.
     */
    public static Map<String, Object> run(BenchSettings settings, AgentConfig config, Map<String, Object> main)
            throws Exception {
        EncodingMode mode = config.encoding();
        EncodingMode first = mode == EncodingMode.CPSTREAM ? EncodingMode.CPSTREAM : EncodingMode.FULL;
        EncodingMode second = first == EncodingMode.FULL ? EncodingMode.CPSTREAM : EncodingMode.FULL;
        List<Map<String, Object>> both = Mirrored.compare(settings, config.withEncoding(first),
                config.withEncoding(second), first == mode ? main : null);
        Map<String, Object> full = both.get(first == EncodingMode.FULL ? 0 : 1);
        Map<String, Object> cpstream = both.get(first == EncodingMode.CPSTREAM ? 0 : 1);
        Map<String, Object> modes = new LinkedHashMap<>();
        modes.put(EncodingMode.FULL.label(), full);
        modes.put(EncodingMode.CPSTREAM.label(), cpstream);
        modes.put("cpstream_vs_full_checkpoints_per_s", Figures.ratio(cpstream.get("checkpoints_per_s"),
                full.get("checkpoints_per_s")));
        modes.put("cpstream_vs_full_wire_bytes_per_dirty_page", Figures.ratio(cpstream.get("wire_bytes_per_dirty_page"),
                full.get("wire_bytes_per_dirty_page")));
        return modes;
    }
}
