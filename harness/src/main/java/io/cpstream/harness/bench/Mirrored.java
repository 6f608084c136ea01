package io.cpstream.harness.bench;

import io.cpstream.agent.AgentConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * Two configurations of one pipeline compared fairly: each run once unmeasured, then both twice in the order
 * A B B A, each in a fresh pipeline of this same JVM; the mean figures of A's runs and of B's. Measured runs with a
 * cold JIT on a loaded 2-core machine were 2-4 times slower or noisier than warm ones, so an A-then-B pair measured
 * the order more than A and B; after the warm-up pass the mirrored order still evens out what drifts.
 */
final class Mirrored {

    private Mirrored() {
    }

    /**
     * The mean figures of {@code a} and of {@code b}, in that order. {@code aDone}, when given, is A's unmeasured
     * run (the caller's own pipeline, which served as A's warm-up).
     */
    static List<Map<String, Object>> compare(BenchSettings settings, AgentConfig a, AgentConfig b,
                                             Map<String, Object> aDone) throws Exception {
        return compare(settings, a, null, b, null, aDone);
    }

    /**
     * As {@link #compare(BenchSettings, AgentConfig, AgentConfig, Map)}, each run of A with a fresh {@code aExtra}
     * and each of B with a fresh {@code bExtra} beside it (either may be null: none).
     */
    static List<Map<String, Object>> compare(BenchSettings settings, AgentConfig a, Supplier<Pipeline.Extra> aExtra,
                                             AgentConfig b, Supplier<Pipeline.Extra> bExtra,
                                             Map<String, Object> aDone) throws Exception {
        Callable<Map<String, Object>> runA = () -> Pipeline.measure(settings, settings.source(), a, false,
                aExtra == null ? null : aExtra.get());
        Callable<Map<String, Object>> runB = () -> Pipeline.measure(settings, settings.source(), b, false,
                bExtra == null ? null : bExtra.get());
        if (aDone == null) {
            // Not measured: the first pipelines in a JVM run while the compiler competes for the cores, for
            // tens of seconds on 2 cores, and whichever configuration ran first looked slow or noisy.
            runA.call();
        }
        runB.call();
        List<Map<String, Object>> aRuns = new ArrayList<>();
        List<Map<String, Object>> bRuns = new ArrayList<>();
        aRuns.add(runA.call());
        bRuns.add(runB.call());
        bRuns.add(runB.call());
        aRuns.add(runA.call());
        return List.of(meanOf(aRuns), meanOf(bRuns));
    }

    /**
     * Field by field mean of runs with the same fields: numbers averaged, a yes/no holds only if it held in every
     * run (digests verified), anything else is a setting the runs share. Plus each run's checkpoint rate and pause p99.
     */
    static Map<String, Object> meanOf(List<Map<String, Object>> runs) {
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
                mean.put(field, Figures.round(sum / runs.size()));
            } else {
                mean.put(field, first);
            }
        }
        mean.put("checkpoints_per_s_runs", runs.stream().map(r -> r.get("checkpoints_per_s")).toList());
        mean.put("pause_ms_p99_runs", runs.stream().map(r -> r.get("pause_ms_p99")).toList());
        if (runs.get(0).containsKey("output_latency_ms_p99")) {
            mean.put("output_latency_ms_p99_runs", runs.stream().map(r -> r.get("output_latency_ms_p99")).toList());
        }
        return mean;
    }
}
