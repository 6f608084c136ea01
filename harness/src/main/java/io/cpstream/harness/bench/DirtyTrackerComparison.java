package io.cpstream.harness.bench;

import io.cpstream.agent.AgentConfig;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.kvm.KvmSource;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code bench --compare-dirty}: a kvm source with each dirty tracker, one pipeline after the other: KVM's dirty
 * bitmap and dirty ring, and userfaultfd's PAGEMAP_SCAN (reported as skipped where the kernel lacks it).
 */
public final class DirtyTrackerComparison {

    /** The {@code dirty=} parameters of a kvm source it runs, in that order. */
    public static final List<String> TRACKERS = List.of("bitmap", "ring", "pagemap");

    private DirtyTrackerComparison() {
    }

    /** The pipeline's figures under each tracker's name, with the spec it ran; a skipped one says why. */
    public static Map<String, Object> run(BenchSettings settings, AgentConfig config) throws Exception {
        Map<String, Object> result = new LinkedHashMap<>();
        for (String tracker : TRACKERS) {
            String spec = withDirtyMode(settings.source(), tracker);
            Optional<String> missing = tracker.equals("pagemap") ? KvmSource.pagemapUnavailableReason() : Optional.empty();
            if (missing.isPresent()) {
                settings.out().println("cpstream bench: skipping dirty=pagemap: " + missing.get());
                result.put(tracker, Map.of("skipped", missing.get()));
            } else {
                Map<String, Object> figures = new LinkedHashMap<>();
                figures.put("source", spec);
                figures.putAll(Pipeline.measure(settings, spec, config));
                result.put(tracker, figures);
            }
        }
        return result;
    }

    /** The spec with its {@code dirty=} parameter set to {@code tracker}. */
    static String withDirtyMode(String spec, String tracker) {
        SourceSpec parsed = SourceSpec.parse(spec);
        Map<String, String> params = new LinkedHashMap<>(parsed.params());
        params.put("dirty", tracker);
        return new SourceSpec(parsed.kind(), params).toString();
    }
}
