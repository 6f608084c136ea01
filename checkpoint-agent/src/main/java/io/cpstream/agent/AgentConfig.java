package io.cpstream.agent;

import io.cpstream.security.TlsSettings;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * How an agent protects its guest.
 *
 * @param collector       host:port of the collector; null when {@code failover} names a pool
 * @param vmId            the VM's name on the collector
 * @param fencingEpoch    presented in every hello; a collector that has seen a higher one refuses it
 * @param epochInterval   target time between two stuns
 * @param maxInFlight     checkpoints captured but not yet acknowledged, at most; the epoch loop waits
 *                        beyond that, so epochs stretch instead of queueing
 * @param verify          compute the guest's SHA-256 at every stun and have the collector check its image
 *                        against it after each commit (costs a full memory scan inside every stun)
 * @param digestsRetained how many per-epoch digests to keep for callers (in verify mode)
 * @param encoding        how pages are encoded ({@link EncodingMode#CPSTREAM} unless comparing)
 * @param deltaCacheBytes memory for copies of what the collector holds, to delta-encode against
 *                        (cpstream encoding; never more than the guest)
 * @param outputSink      where committed guest output is released: {@code none}, {@code file:PATH},
 *                        {@code tcp://HOST:PORT}
 * @param maxPendingOutputBytes output held (not yet committed or released) at most; beyond it the guest waits
 * @param heartbeatInterval how often the agent renews its lease with the collector
 * @param stun            what is copied inside the stun (history split or copy-all), and the stun and
 *                        bandwidth targets epochs adapt to
 * @param failover        what happens when the standby is lost, and the pool of collectors to find another in
 * @param tls             mutual TLS to the collector (both the stream's and the lease's channel) and the output
 *                        sink, or plaintext ({@link TlsSettings#INSECURE})
 */
public record AgentConfig(String collector, String vmId, long fencingEpoch, Duration epochInterval,
                          int maxInFlight, boolean verify, int digestsRetained, EncodingMode encoding,
                          long deltaCacheBytes, String outputSink, long maxPendingOutputBytes,
                          Duration heartbeatInterval, StunConfig stun, FailoverConfig failover, TlsSettings tls) {

    public static final Duration DEFAULT_HEARTBEAT = Duration.ofMillis(200);

    public AgentConfig {
        Objects.requireNonNull(encoding, "encoding");
        Objects.requireNonNull(outputSink, "outputSink");
        Objects.requireNonNull(stun, "stun");
        Objects.requireNonNull(failover, "failover");
        Objects.requireNonNull(tls, "tls");
        if ((collector == null) == (failover.pool() == null)) {
            throw new IllegalArgumentException("give either a collector or a pool of collectors, not both or neither");
        }
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight must be at least 1");
        }
        requirePositive(epochInterval, "the epoch interval");
        requirePositive(heartbeatInterval, "the heartbeat interval");
        if (deltaCacheBytes < 0) {
            throw new IllegalArgumentException("the delta cache size must not be negative");
        }
        if (maxPendingOutputBytes < io.cpstream.tracker.MemorySource.MAX_OUTPUT_RECORD_BYTES
                || maxPendingOutputBytes > io.cpstream.proto.Limit.MAX_HELD_OUTPUT_BYTES_VALUE) {
            // Below one record nothing could ever be taken; above what a standby keeps, a commit would be refused.
            throw new IllegalArgumentException("the pending output bound must be between "
                    + io.cpstream.tracker.MemorySource.MAX_OUTPUT_RECORD_BYTES + " bytes (one record) and "
                    + io.cpstream.proto.Limit.MAX_HELD_OUTPUT_BYTES_VALUE + " (what a standby keeps)");
        }
    }

    /**
     * The defaults of {@link AgentKeys}, to protect {@code vmId} on {@code collector}. Two checkpoints in flight, not
     * four: a checkpoint waits behind every one ahead of it, so lag runs at about this many service times once the
     * stream is behind, and merging epochs (the epoch loop's backpressure) already keeps the pipe full with two. On
     * the default bench (12 s warm-up) lag p99 went from 101-325 ms to 43-69 ms with checkpoints/s unchanged (74-94).
     */
    public static AgentConfig of(String collector, String vmId) {
        return new AgentConfig(collector, vmId, AgentKeys.FENCING_EPOCH.defaultValue(),
                Duration.ofMillis(AgentKeys.EPOCH_MS.defaultValue()), 2, AgentKeys.VERIFY.defaultValue(), 8192,
                AgentKeys.ENCODING.defaultValue(), AgentKeys.DELTA_CACHE.defaultValue(),
                AgentKeys.OUTPUT_SINK.defaultValue(), AgentKeys.MAX_PENDING_OUTPUT.defaultValue(), DEFAULT_HEARTBEAT,
                StunConfig.DEFAULT, FailoverConfig.DEFAULT, TlsSettings.INSECURE);
    }

    public AgentConfig withCollector(String value) {
        return with(b -> b.collector = value);
    }

    public AgentConfig withVmId(String value) {
        return with(b -> b.vmId = value);
    }

    public AgentConfig withVerify(boolean value) {
        return with(b -> b.verify = value);
    }

    public AgentConfig withEpochInterval(Duration value) {
        return with(b -> b.epochInterval = value);
    }

    public AgentConfig withFencingEpoch(long value) {
        return with(b -> b.fencingEpoch = value);
    }

    public AgentConfig withMaxInFlight(int value) {
        return with(b -> b.maxInFlight = value);
    }

    public AgentConfig withEncoding(EncodingMode value) {
        return with(b -> b.encoding = value);
    }

    public AgentConfig withDeltaCacheBytes(long value) {
        return with(b -> b.deltaCacheBytes = value);
    }

    public AgentConfig withOutputSink(String value) {
        return with(b -> b.outputSink = value);
    }

    public AgentConfig withMaxPendingOutputBytes(long value) {
        return with(b -> b.maxPendingOutputBytes = value);
    }

    public AgentConfig withHeartbeatInterval(Duration value) {
        return with(b -> b.heartbeatInterval = value);
    }

    public AgentConfig withStun(StunConfig value) {
        return with(b -> b.stun = value);
    }

    /** Placed on a collector of {@code failover}'s pool instead of a fixed one, when it names a pool. */
    public AgentConfig withFailover(FailoverConfig value) {
        return with(b -> {
            b.failover = value;
            if (value.pool() != null) {
                b.collector = null;
            }
        });
    }

    public AgentConfig withTls(TlsSettings value) {
        return with(b -> b.tls = value);
    }

    /** A copy with {@code change} applied to its fields: one place that lists them all. */
    private AgentConfig with(Consumer<Fields> change) {
        Fields f = new Fields(this);
        change.accept(f);
        return new AgentConfig(f.collector, f.vmId, f.fencingEpoch, f.epochInterval, f.maxInFlight, f.verify,
                f.digestsRetained, f.encoding, f.deltaCacheBytes, f.outputSink, f.maxPendingOutputBytes,
                f.heartbeatInterval, f.stun, f.failover, f.tls);
    }

    private static void requirePositive(Duration value, String what) {
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(what + " must be positive");
        }
    }

    /** The fields of a config being changed. */
    private static final class Fields {
        String collector;
        String vmId;
        long fencingEpoch;
        Duration epochInterval;
        int maxInFlight;
        boolean verify;
        int digestsRetained;
        EncodingMode encoding;
        long deltaCacheBytes;
        String outputSink;
        long maxPendingOutputBytes;
        Duration heartbeatInterval;
        StunConfig stun;
        FailoverConfig failover;
        TlsSettings tls;

        Fields(AgentConfig c) {
            collector = c.collector;
            vmId = c.vmId;
            fencingEpoch = c.fencingEpoch;
            epochInterval = c.epochInterval;
            maxInFlight = c.maxInFlight;
            verify = c.verify;
            digestsRetained = c.digestsRetained;
            encoding = c.encoding;
            deltaCacheBytes = c.deltaCacheBytes;
            outputSink = c.outputSink;
            maxPendingOutputBytes = c.maxPendingOutputBytes;
            heartbeatInterval = c.heartbeatInterval;
            stun = c.stun;
            failover = c.failover;
            tls = c.tls;
        }
    }
}
