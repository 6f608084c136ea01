package io.cpstream.agent;

import org.HdrHistogram.Histogram;

/**
 * Exact figures of one agent run for benchmarks and progress lines: pause and lag distributions and
 * totals. Thread-safe; {@link #snapshot()} copies.
 */
public final class AgentStats {

    private final Histogram pauseNanos = new Histogram(3_600_000_000_000L, 3);
    private final Histogram lagNanos = new Histogram(3_600_000_000_000L, 3);
    private long checkpoints;
    private long acked;
    private long dirtyPages;
    private long pagesSent;
    private long wireBytes;
    private long lastAckedEpoch;

    /** A consistent copy of the figures. */
    public record Snapshot(long checkpoints, long acknowledged, long lastAckedEpoch, long dirtyPages, long pagesSent,
                           long wireBytes, double pauseMsP50, double pauseMsP99, double pauseMsMax, double lagMsP50,
                           double lagMsP99) {
    }

    synchronized void recordCapture(long pause, long dirty) {
        checkpoints++;
        dirtyPages += dirty;
        pauseNanos.recordValue(Math.min(pause, pauseNanos.getHighestTrackableValue()));
    }

    synchronized void recordSent(long pages, long bytes) {
        pagesSent += pages;
        wireBytes += bytes;
    }

    synchronized void recordAck(long epoch, long lag) {
        acked++;
        lastAckedEpoch = Math.max(lastAckedEpoch, epoch);
        if (lag >= 0) {
            lagNanos.recordValue(Math.min(lag, lagNanos.getHighestTrackableValue()));
        }
    }

    /** Starts a new measurement window (after a warm-up, say); lastAckedEpoch is kept. */
    public synchronized void reset() {
        pauseNanos.reset();
        lagNanos.reset();
        checkpoints = 0;
        acked = 0;
        dirtyPages = 0;
        pagesSent = 0;
        wireBytes = 0;
    }

    public synchronized Snapshot snapshot() {
        return new Snapshot(checkpoints, acked, lastAckedEpoch, dirtyPages, pagesSent, wireBytes,
                ms(pauseNanos, 50), ms(pauseNanos, 99), pauseNanos.getMaxValue() / 1e6, ms(lagNanos, 50),
                ms(lagNanos, 99));
    }

    private static double ms(Histogram histogram, double percentile) {
        return histogram.getTotalCount() == 0 ? 0 : histogram.getValueAtPercentile(percentile) / 1e6;
    }
}
