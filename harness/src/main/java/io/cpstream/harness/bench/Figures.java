package io.cpstream.harness.bench;

/** How the benchmarks write their figures: three decimals, and ratios of two figures. */
public final class Figures {

    private Figures() {
    }

    /** {@code value} to three decimals. */
    /** The nearest-rank percentile {@code p} of {@code sorted} (ascending); 0 of nothing. */
    static long percentile(long[] sorted, int p) {
        if (sorted.length == 0) {
            return 0;
        }
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length, rank) - 1)];
    }

    public static double round(double value) {
        return Math.round(value * 1000) / 1000.0;
    }

    /** {@code numerator / denominator} to three decimals; 0 when the denominator is. */
    static double ratio(Object numerator, Object denominator) {
        double d = ((Number) denominator).doubleValue();
        return d == 0 ? 0 : round(((Number) numerator).doubleValue() / d);
    }

    /**
     * A pipeline run's lag p99 in achieved epochs ({@code lag_ms_p99} over the mean time between acknowledged
     * checkpoints): the bound the dashboards care about is relative to how often checkpoints happen. 0 without any.
     */
    static double lagP99OverEpoch(java.util.Map<String, Object> pipeline) {
        double rate = ((Number) pipeline.get("checkpoints_per_s")).doubleValue();
        return rate == 0 ? 0 : round(((Number) pipeline.get("lag_ms_p99")).doubleValue() * rate / 1000);
    }
}
