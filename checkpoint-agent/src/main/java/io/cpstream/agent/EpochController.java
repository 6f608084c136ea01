package io.cpstream.agent;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Chooses the length of the next epoch so that stuns stay under a target and the checkpoint stream under
 * a bandwidth budget, the way VMware FT's dynamic interval and QEMU's downtime limit and max bandwidth
 * do. Longer epochs let rewrites of the same page coalesce (fewer bytes a second) but accumulate more
 * dirty pages per stun; shorter epochs do the opposite. So: a stun above target shortens the epoch, a
 * stream above budget lengthens it, and with both well met the epoch drifts back to the configured one.
 * When the two pull in opposite directions, or the epoch is already at its bound, the target is
 * reported as missed; the bandwidth budget wins (it protects a shared link), the stun target yields.
 *
 * <p>Decisions use smoothed figures, so one stun stretched by the scheduler does not halve the epoch:
 * the stun is the median of the last {@value #STUN_WINDOW} (a preempted stun is an outlier, not a
 * trend), the stream rate an exponential average. Not thread-safe: the epoch loop alone drives it.
 */
final class EpochController {

    /** Which targets the last decision met. */
    enum Verdict {
        /** Both targets met, or being approached by adjusting the epoch. */
        MET,
        /** The stun is above target and the epoch cannot shrink: at its minimum, or held long by the bandwidth budget. */
        STUN_TARGET_MISSED,
        /** The stream is above budget with the epoch at its maximum. */
        BANDWIDTH_EXCEEDED
    }

    static final Duration MIN_INTERVAL = Duration.ofMillis(1);
    static final Duration MAX_INTERVAL = Duration.ofSeconds(2);
    private static final double SMOOTHING = 0.3;
    static final int STUN_WINDOW = 5;
    private static final double SHRINK = 0.75;
    private static final double GROW = 1.25;
    /** Comfortably under a target: below this share of it the epoch may move back towards the configured one. */
    private static final double SLACK = 0.6;

    private final long preferredNanos;
    private final long maxStunNanos;
    private final double maxBytesPerSecond;
    private long intervalNanos;
    private double smoothedStunNanos = -1;
    private final long[] recentStuns = new long[STUN_WINDOW];
    private int stunsSeen;
    private double smoothedBytesPerSecond = -1;
    private Verdict verdict = Verdict.MET;
    /**
     * Where this agent's epoch boundaries sit within an interval ({@link #nextBoundaryNanos}): taken modulo the interval
     * in use, so it is drawn over all longs, not over one bound, to be spread evenly for any {@code --epoch-ms}.
     */
    private final long phaseNanos;

    /**
     * @param preferred   the configured epoch length, used while both targets are met comfortably
     * @param maxStun     target maximum stun, or null for none
     * @param maxMbps     bandwidth budget of the checkpoint stream in megabits a second, or 0 for none
     */
    EpochController(Duration preferred, Duration maxStun, double maxMbps) {
        this.preferredNanos = preferred.toNanos();
        this.maxStunNanos = maxStun == null ? 0 : maxStun.toNanos();
        this.maxBytesPerSecond = maxMbps <= 0 ? 0 : maxMbps * 1e6 / 8;
        this.intervalNanos = preferredNanos;
        this.phaseNanos = ThreadLocalRandom.current().nextLong(Long.MAX_VALUE);
    }

    boolean adaptive() {
        return maxStunNanos > 0 || maxBytesPerSecond > 0;
    }

    /** The epoch length to use now. */
    long intervalNanos() {
        return intervalNanos;
    }

    /**
     * When the epoch that started at {@code startedNanos} ({@link System#nanoTime()}) should end: the first point of
     * this agent's own grid, {@link #intervalNanos()} apart at a phase drawn at random when the agent started, that is
     * at least half an interval away. In steady state that is one interval after the last boundary; after a late
     * start (a wait for room in the pipeline) the agent falls back onto its grid within one epoch.
     *
     * <p>Agents started together, or held together by one collector's acknowledgements arriving as a burst, would
     * otherwise stun at the same instants for as long as they run, and their checkpoints reach the collector at
     * once: measured with 64 VMs on one collector, the worst VM's lag p99 was 9.6-13.5x a single VM's that way.
     * Random dither alone spreads them again only slowly after each burst; the grid spreads them at once. What is
     * left of that figure on a two-core host is runs in which the cores run out (collector-server README).
     */
    long nextBoundaryNanos(long startedNanos) {
        long interval = intervalNanos;
        long phase = phaseNanos % interval;
        long earliest = startedNanos + interval / 2;
        return Math.floorDiv(earliest - phase + interval - 1, interval) * interval + phase;
    }

    Verdict verdict() {
        return verdict;
    }

    double smoothedStunMillis() {
        return smoothedStunNanos < 0 ? 0 : smoothedStunNanos / 1e6;
    }

    double smoothedMbps() {
        return smoothedBytesPerSecond < 0 ? 0 : smoothedBytesPerSecond * 8 / 1e6;
    }

    /**
     * Takes the figures of one epoch and decides the next length.
     *
     * @param stunNanos    how long the guest was stopped at its stun
     * @param streamBytes  bytes the checkpoint stream carried for the epoch (wire bytes, or an estimate)
     * @param elapsedNanos the epoch's actual length (from the previous stun to this one)
     * @return the verdict of this decision
     */
    Verdict observe(long stunNanos, long streamBytes, long elapsedNanos) {
        recentStuns[stunsSeen++ % STUN_WINDOW] = stunNanos;
        long[] window = java.util.Arrays.copyOf(recentStuns, Math.min(stunsSeen, STUN_WINDOW));
        java.util.Arrays.sort(window);
        smoothedStunNanos = window[window.length / 2];
        if (elapsedNanos > 0) {
            smoothedBytesPerSecond = smooth(smoothedBytesPerSecond, streamBytes * 1e9 / elapsedNanos);
        }
        if (!adaptive()) {
            return verdict = Verdict.MET;
        }
        boolean stunOver = maxStunNanos > 0 && smoothedStunNanos > maxStunNanos;
        boolean bandwidthOver = maxBytesPerSecond > 0 && smoothedBytesPerSecond > maxBytesPerSecond;
        boolean stunSlack = maxStunNanos == 0 || smoothedStunNanos < SLACK * maxStunNanos;
        boolean bandwidthSlack = maxBytesPerSecond == 0 || smoothedBytesPerSecond < SLACK * maxBytesPerSecond;
        long min = MIN_INTERVAL.toNanos();
        long max = MAX_INTERVAL.toNanos();
        if (bandwidthOver) {
            intervalNanos = Math.min(max, (long) (intervalNanos * GROW));
            boolean atBound = intervalNanos == max;
            verdict = atBound ? Verdict.BANDWIDTH_EXCEEDED : stunOver ? Verdict.STUN_TARGET_MISSED : Verdict.MET;
        } else if (stunOver) {
            boolean atBound = intervalNanos == min;
            intervalNanos = Math.max(min, (long) (intervalNanos * SHRINK));
            verdict = atBound ? Verdict.STUN_TARGET_MISSED : Verdict.MET;
        } else {
            // Both met: drift back towards the configured length where the targets leave room.
            if (intervalNanos < preferredNanos && stunSlack) {
                intervalNanos = Math.min(preferredNanos, (long) (intervalNanos * GROW));
            } else if (intervalNanos > preferredNanos && bandwidthSlack) {
                intervalNanos = Math.max(preferredNanos, (long) (intervalNanos * SHRINK));
            }
            verdict = Verdict.MET;
        }
        return verdict;
    }

    private static double smooth(double previous, double sample) {
        return previous < 0 ? sample : previous + SMOOTHING * (sample - previous);
    }
}
