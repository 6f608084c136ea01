package io.cpstream.agent;

import org.HdrHistogram.Histogram;

/**
 * Exact figures of one agent run for benchmarks and progress lines: pause and lag distributions and
 * totals. Thread-safe; {@link #snapshot()} copies.
 */
public final class AgentStats {

    private final Histogram pauseNanos = new Histogram(3_600_000_000_000L, 3);
    private final Histogram lagNanos = new Histogram(3_600_000_000_000L, 3);
    /** Pages copied with the guest stopped, per checkpoint: what a stun's memory-copy floor is made of. */
    private final Histogram stunCopiedPages = new Histogram(1L << 40, 3);
    /** Record/replay: from sending a chunk of the guest's inputs to the collector's acknowledgement of it. */
    private final Histogram eventAckNanos = new Histogram(3_600_000_000_000L, 3);
    private long checkpoints;
    private long acked;
    private long dirtyPages;
    private long pagesSent;
    private long wireBytes;
    private long lastAckedEpoch;
    private long cowFaults;
    private long deferredPages;
    private long stunTargetMisses;
    private long bandwidthExceeded;
    private long mergedEpochs;
    private double epochMsMin = Double.MAX_VALUE;
    private double epochMsMax;
    private double epochMsLast;
    /** Never reset: what the epoch controller measures the stream's rate with. */
    private long wireBytesTotal;

    /**
     * A consistent copy of the figures.
     *
     * @param cowFaults         protected pages the guest wrote before the agent copied them (saved first by the source)
     * @param deferredPages     pages copied after the guest resumed instead of inside the stun
     * @param stunTargetMisses  epoch decisions that could not meet the stun target
     * @param bandwidthExceeded epoch decisions that could not keep the stream within the bandwidth budget
     * @param epochMsLast       the epoch length the agent chose last (with adaptive epochs it moves)
     * @param mergedEpochs      epoch boundaries passed without a stun while the pipeline was full: their dirty pages
     *                          went out in the next checkpoint instead of queueing checkpoints of their own
     * @param stunPagesP50      pages copied inside the stun (the guest stopped), median per checkpoint
     * @param stunPagesP99      the same, 99th percentile
     * @param eventAcks         record/replay: chunks of the guest's inputs the collector acknowledged (0 otherwise)
     * @param eventAckMsP50     the round trip of such a chunk, sent to acknowledged, median: what an output waits
     *                          for beyond its own input's turn
     * @param eventAckMsP99     the same, 99th percentile
     */
    public record Snapshot(long checkpoints, long acknowledged, long lastAckedEpoch, long dirtyPages, long pagesSent,
                           long wireBytes, double pauseMsP50, double pauseMsP99, double pauseMsMax, double lagMsP50,
                           double lagMsP99, long cowFaults, long deferredPages, long stunTargetMisses,
                           long bandwidthExceeded, double epochMsMin, double epochMsMax, double epochMsLast,
                           long mergedEpochs, long stunPagesP50, long stunPagesP99, long eventAcks,
                           double eventAckMsP50, double eventAckMsP99) {
    }

    /** One checkpoint: its pause, its dirty pages and how many of them were copied inside the stun. */
    synchronized void recordCapture(long pause, long dirty, long copiedInStun) {
        checkpoints++;
        dirtyPages += dirty;
        stunCopiedPages.recordValue(Math.min(copiedInStun, stunCopiedPages.getHighestTrackableValue()));
        pauseNanos.recordValue(Math.min(pause, pauseNanos.getHighestTrackableValue()));
    }

    synchronized void recordSent(long pages, long bytes) {
        pagesSent += pages;
        wireBytes += bytes;
        wireBytesTotal += bytes;
    }

    synchronized void recordDeferred(long pages, long faults) {
        deferredPages += pages;
        cowFaults += faults;
    }

    synchronized void recordEpochDecision(double epochMs, EpochController.Verdict verdict) {
        epochMsLast = epochMs;
        epochMsMin = Math.min(epochMsMin, epochMs);
        epochMsMax = Math.max(epochMsMax, epochMs);
        switch (verdict) {
            case STUN_TARGET_MISSED -> stunTargetMisses++;
            case BANDWIDTH_EXCEEDED -> bandwidthExceeded++;
            case MET -> { }
        }
    }

    synchronized void recordMerged(long epochs) {
        mergedEpochs += epochs;
    }

    synchronized void recordEventAck(long roundTrip) {
        eventAckNanos.recordValue(Math.min(roundTrip, eventAckNanos.getHighestTrackableValue()));
    }

    synchronized long wireBytesTotal() {
        return wireBytesTotal;
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
        stunCopiedPages.reset();
        eventAckNanos.reset();
        checkpoints = 0;
        acked = 0;
        dirtyPages = 0;
        pagesSent = 0;
        wireBytes = 0;
        cowFaults = 0;
        deferredPages = 0;
        mergedEpochs = 0;
        stunTargetMisses = 0;
        bandwidthExceeded = 0;
        epochMsMin = Double.MAX_VALUE;
        epochMsMax = 0;
    }

    public synchronized Snapshot snapshot() {
        return new Snapshot(checkpoints, acked, lastAckedEpoch, dirtyPages, pagesSent, wireBytes,
                ms(pauseNanos, 50), ms(pauseNanos, 99), pauseNanos.getMaxValue() / 1e6, ms(lagNanos, 50),
                ms(lagNanos, 99), cowFaults, deferredPages, stunTargetMisses, bandwidthExceeded,
                epochMsMin == Double.MAX_VALUE ? 0 : epochMsMin, epochMsMax, epochMsLast, mergedEpochs,
                stunCopiedPages.getTotalCount() == 0 ? 0 : stunCopiedPages.getValueAtPercentile(50),
                stunCopiedPages.getTotalCount() == 0 ? 0 : stunCopiedPages.getValueAtPercentile(99),
                eventAckNanos.getTotalCount(), ms(eventAckNanos, 50), ms(eventAckNanos, 99));
    }

    private static double ms(Histogram histogram, double percentile) {
        return histogram.getTotalCount() == 0 ? 0 : histogram.getValueAtPercentile(percentile) / 1e6;
    }
}
