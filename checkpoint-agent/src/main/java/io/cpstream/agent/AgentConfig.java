package io.cpstream.agent;

import java.time.Duration;

/**
 * How an agent protects its guest.
 *
 * @param collector       host:port of the collector
 * @param vmId            the VM's name on the collector
 * @param fencingEpoch    presented in every hello; a collector that has seen a higher one refuses it
 * @param epochInterval   target time between two stuns
 * @param maxInFlight     checkpoints captured but not yet acknowledged, at most; the epoch loop waits
 *                        beyond that, so epochs stretch instead of queueing without bound
 * @param verify          compute the guest's SHA-256 at every stun and have the collector check its image
 *                        against it after each commit (costs a full memory scan inside every stun)
 * @param digestsRetained how many per-epoch digests to keep for callers (in verify mode)
 * @param encoding        how pages are encoded ({@link EncodingMode#CPSTREAM} unless comparing)
 * @param deltaCacheBytes memory for copies of what the collector holds, to delta-encode against
 *                        (cpstream encoding; default 64 MiB, never more than the guest)
 */
public record AgentConfig(String collector, String vmId, long fencingEpoch, Duration epochInterval,
                          int maxInFlight, boolean verify, int digestsRetained, EncodingMode encoding,
                          long deltaCacheBytes) {

    public static final long DEFAULT_DELTA_CACHE_BYTES = 64L << 20;

    public AgentConfig {
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight must be at least 1");
        }
        if (epochInterval.isNegative() || epochInterval.isZero()) {
            throw new IllegalArgumentException("the epoch interval must be positive");
        }
        if (deltaCacheBytes < 0) {
            throw new IllegalArgumentException("the delta cache size must not be negative");
        }
        java.util.Objects.requireNonNull(encoding, "encoding");
    }

    public static AgentConfig of(String collector, String vmId) {
        return new AgentConfig(collector, vmId, 0, Duration.ofMillis(10), 4, false, 8192, EncodingMode.CPSTREAM,
                DEFAULT_DELTA_CACHE_BYTES);
    }

    public AgentConfig withCollector(String value) {
        return new AgentConfig(value, vmId, fencingEpoch, epochInterval, maxInFlight, verify, digestsRetained,
                encoding, deltaCacheBytes);
    }

    public AgentConfig withVerify(boolean value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, maxInFlight, value, digestsRetained,
                encoding, deltaCacheBytes);
    }

    public AgentConfig withEpochInterval(Duration value) {
        return new AgentConfig(collector, vmId, fencingEpoch, value, maxInFlight, verify, digestsRetained,
                encoding, deltaCacheBytes);
    }

    public AgentConfig withFencingEpoch(long value) {
        return new AgentConfig(collector, vmId, value, epochInterval, maxInFlight, verify, digestsRetained,
                encoding, deltaCacheBytes);
    }

    public AgentConfig withEncoding(EncodingMode value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, maxInFlight, verify, digestsRetained,
                value, deltaCacheBytes);
    }

    public AgentConfig withDeltaCacheBytes(long value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, maxInFlight, verify, digestsRetained,
                encoding, value);
    }

    public AgentConfig withMaxInFlight(int value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, value, verify, digestsRetained,
                encoding, deltaCacheBytes);
    }
}
