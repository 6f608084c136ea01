package io.cpstream.harness.bench;

/** How the benchmarks write their figures: three decimals, and ratios of two figures. */
public final class Figures {

    private Figures() {
    }

    /** {@code value} to three decimals. */
    public static double round(double value) {
        return Math.round(value * 1000) / 1000.0;
    }

    /** {@code numerator / denominator} to three decimals; 0 when the denominator is. */
    static double ratio(Object numerator, Object denominator) {
        double d = ((Number) denominator).doubleValue();
        return d == 0 ? 0 : round(((Number) numerator).doubleValue() / d);
    }
}
