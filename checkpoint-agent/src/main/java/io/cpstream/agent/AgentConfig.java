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
 * @param outputSink      where committed guest output is released: {@code none}, {@code file:PATH},
 *                        {@code tcp://HOST:PORT}
 * @param maxPendingOutputBytes output held (not yet committed or released) at most; beyond it the guest waits
 * @param heartbeatInterval how often the agent renews its lease with the collector
 * @param stun            what is copied inside the stun (history split or copy-all), and the stun and
 *                        bandwidth targets epochs adapt to
 */
public record AgentConfig(String collector, String vmId, long fencingEpoch, Duration epochInterval,
                          int maxInFlight, boolean verify, int digestsRetained, String outputSink,
                          long maxPendingOutputBytes, Duration heartbeatInterval,
                          StunConfig stun) {

    public static final long DEFAULT_MAX_PENDING_OUTPUT_BYTES = 1 << 20;
    public static final Duration DEFAULT_HEARTBEAT = Duration.ofMillis(200);

    public AgentConfig {
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight must be at least 1");
        }
        if (epochInterval.isNegative() || epochInterval.isZero()) {
            throw new IllegalArgumentException("the epoch interval must be positive");
        }
        if (maxPendingOutputBytes < 1) {
            throw new IllegalArgumentException("maxPendingOutputBytes must be positive");
        }
        if (heartbeatInterval.isNegative() || heartbeatInterval.isZero()) {
            throw new IllegalArgumentException("the heartbeat interval must be positive");
        }
        if (stun == null) {
            throw new IllegalArgumentException("stun config missing");
        }
    }

    public static AgentConfig of(String collector, String vmId) {
        return new AgentConfig(collector, vmId, 0, Duration.ofMillis(10), 4, false, 8192, "none",
                DEFAULT_MAX_PENDING_OUTPUT_BYTES, DEFAULT_HEARTBEAT, StunConfig.DEFAULT);
    }

    public AgentConfig withCollector(String value) {
        return new AgentConfig(value, vmId, fencingEpoch, epochInterval, maxInFlight, verify, digestsRetained, outputSink,
                maxPendingOutputBytes, heartbeatInterval, stun);
    }

    public AgentConfig withVerify(boolean value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, maxInFlight, value, digestsRetained, outputSink,
                maxPendingOutputBytes, heartbeatInterval, stun);
    }

    public AgentConfig withEpochInterval(Duration value) {
        return new AgentConfig(collector, vmId, fencingEpoch, value, maxInFlight, verify, digestsRetained, outputSink,
                maxPendingOutputBytes, heartbeatInterval, stun);
    }

    public AgentConfig withFencingEpoch(long value) {
        return new AgentConfig(collector, vmId, value, epochInterval, maxInFlight, verify, digestsRetained, outputSink,
                maxPendingOutputBytes, heartbeatInterval, stun);
    }

    public AgentConfig withMaxInFlight(int value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, value, verify, digestsRetained, outputSink,
                maxPendingOutputBytes, heartbeatInterval, stun);
    }

    public AgentConfig withOutputSink(String value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, maxInFlight, verify, digestsRetained, value,
                maxPendingOutputBytes, heartbeatInterval, stun);
    }

    public AgentConfig withMaxPendingOutputBytes(long value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, maxInFlight, verify, digestsRetained,
                outputSink, value, heartbeatInterval, stun);
    }

    public AgentConfig withHeartbeatInterval(Duration value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, maxInFlight, verify, digestsRetained,
                outputSink, maxPendingOutputBytes, value, stun);
    }

    public AgentConfig withStun(StunConfig value) {
        return new AgentConfig(collector, vmId, fencingEpoch, epochInterval, maxInFlight, verify, digestsRetained,
                outputSink, maxPendingOutputBytes, heartbeatInterval, value);
    }
}
