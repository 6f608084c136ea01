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
 */
public record AgentConfig(String collector, String vmId, long fencingEpoch, Duration epochInterval,
                          int maxInFlight, boolean verify, int digestsRetained) {

    public AgentConfig {
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight must be at least 1");
        }
        if (epochInterval.isNegative() || epochInterval.isZero()) {
            throw new IllegalArgumentException("the epoch interval must be positive");
        }
    }

    public static AgentConfig of(String collector, String vmId) {
        return new AgentConfig(collector, vmId, 0, Duration.ofMillis(10), 4, false, 8192);
    }

    public AgentConfig withCollector(String value) {
        return new AgentConfig(value, vmId, fencingEpoch, epochInterval, maxInFlight, verify, digestsRetained);
    }

    public AgentConfig withVerify(boolean value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, maxInFlight, value, digestsRetained);
    }

    public AgentConfig withEpochInterval(Duration value) {
        return new AgentConfig(collector, vmId, fencingEpoch, value, maxInFlight, verify, digestsRetained);
    }

    public AgentConfig withFencingEpoch(long value) {
        return new AgentConfig(collector, vmId, value, epochInterval, maxInFlight, verify, digestsRetained);
    }

    public AgentConfig withMaxInFlight(int value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, value, verify, digestsRetained);
    }
}
