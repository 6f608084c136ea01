package io.cpstream.harness.bench;

import java.util.Arrays;
import java.util.Map;

/** Latencies measured one by one, in nanoseconds, reported as {@code <prefix>_ms_p50/p99/max}. Not thread-safe. */
final class LatencySamples {

    private long[] nanos = new long[1 << 12];
    private int count;

    void add(long latencyNanos) {
        if (count == nanos.length) {
            nanos = Arrays.copyOf(nanos, count * 2);
        }
        nanos[count++] = latencyNanos;
    }

    int count() {
        return count;
    }

    /** Puts {@code <prefix>_ms_p50}, {@code _p99} and {@code _max} (nearest rank, 0 of nothing) into {@code result}. */
    void putMillis(Map<String, Object> result, String prefix) {
        long[] sorted = Arrays.copyOf(nanos, count);
        Arrays.sort(sorted);
        result.put(prefix + "_ms_p50", Figures.round(Figures.percentile(sorted, 50) / 1e6));
        result.put(prefix + "_ms_p99", Figures.round(Figures.percentile(sorted, 99) / 1e6));
        result.put(prefix + "_ms_max", Figures.round(Figures.percentile(sorted, 100) / 1e6));
    }
}
