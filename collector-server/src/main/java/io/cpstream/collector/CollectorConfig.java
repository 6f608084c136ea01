package io.cpstream.collector;

import io.cpstream.collector.store.Durability;
import io.cpstream.config.HostPort;
import io.cpstream.security.TlsSettings;
import java.nio.file.Path;
import java.time.Duration;

/**
 * How a collector runs.
 *
 * @param host          address to listen on
 * @param port          port to listen on; 0 picks a free one
 * @param dataDirectory where standbys live, one directory per VM under {@code vms/}
 * @param durability    what an acknowledged epoch survives
 * @param maxGuestBytes largest guest this collector accepts, so a hello cannot make it map absurd files
 * @param drain         how long a stop waits for streams to finish before cutting them
 * @param lease         how long one heartbeat lets a primary act (release output); promotion without
 *                      force waits until the primary's lease has run out
 * @param autoPromoteAfter promote a VM on its own once its primary has been silent this long and its
 *                      lease has run out; null: only an operator promotes
 * @param zookeeper     ZooKeeper connect string ({@code host:port[,host:port...]}) when several collectors
 *                      share leases and fencing epochs; null: this collector alone decides
 * @param pool          how this collector shows itself in the pool of collectors (with {@code zookeeper})
 * @param quotas        how much agents may make this collector hold, over all VMs
 * @param tls           mutual TLS for the replication and admin APIs, or plaintext ({@link TlsSettings#INSECURE})
 * @param lockstep      the secondaries this collector runs for primaries under quasi-lockstep protection
 */
public record CollectorConfig(String host, int port, Path dataDirectory, Durability durability, long maxGuestBytes,
                              Duration drain, Duration lease, Duration autoPromoteAfter, String zookeeper,
                              PoolSettings pool, Quotas quotas, TlsSettings tls, Lockstep lockstep) {

    /**
     * Quasi-lockstep ({@code agent --protect lockstep}): each secondary is an emulated guest of the primary's size
     * and a thread, so their number is bounded; a primary beyond it is told the collector runs none for it.
     *
     * @param maxSecondaries secondaries running at once, over all VMs ({@code lockstep-secondaries}); 0: none
     * @param verifyEvery    how often a secondary's memory is checked against the committed checkpoint replayed
     *                       to the same input ({@code lockstep-verify-ms}); null: never
     */
    public record Lockstep(int maxSecondaries, Duration verifyEvery) {
        public static final Lockstep DEFAULT = new Lockstep(
                Math.toIntExact(CollectorKeys.LOCKSTEP_SECONDARIES.defaultValue()),
                Duration.ofMillis(CollectorKeys.LOCKSTEP_VERIFY_MS.defaultValue()));

        public Lockstep {
            if (maxSecondaries < 0) {
                throw new IllegalArgumentException("lockstep secondaries cannot be negative");
            }
            if (verifyEvery != null && (verifyEvery.isZero() || verifyEvery.isNegative())) {
                verifyEvery = null;
            }
        }
    }

    /**
     * @param maxVms             standbys this collector keeps at most; a Hello for one more is refused
     * @param maxTotalGuestBytes the guests of all its standbys together, at most
     * @param auditLog           where admin actions are appended (who, what, when, result); null: the log only
     * @param journalBuffers     direct buffers of 1 MiB all journals share ({@code journal-buffers})
     * @param pageSharing        identical pages of all standbys stored once ({@code page-sharing})
     */
    public record Quotas(int maxVms, long maxTotalGuestBytes, Path auditLog, int journalBuffers, boolean pageSharing,
                         Connections connections) {
        public static final Quotas DEFAULT = new Quotas(Math.toIntExact(CollectorKeys.MAX_VMS.defaultValue()),
                CollectorKeys.MAX_TOTAL_GUEST_BYTES.defaultValue(), null);

        public Quotas {
            if (maxVms < 1 || maxTotalGuestBytes < 1 || journalBuffers < 1) {
                throw new IllegalArgumentException("quotas must be positive");
            }
            java.util.Objects.requireNonNull(connections, "connections");
        }

        /** With the default number of journal buffers, no page sharing and the default {@link Connections}. */
        public Quotas(int maxVms, long maxTotalGuestBytes, Path auditLog) {
            this(maxVms, maxTotalGuestBytes, auditLog, Math.toIntExact(CollectorKeys.JOURNAL_BUFFERS.defaultValue()),
                    CollectorKeys.PAGE_SHARING.defaultValue(), Connections.DEFAULT);
        }

        public Quotas withConnections(Connections value) {
            return new Quotas(maxVms, maxTotalGuestBytes, auditLog, journalBuffers, pageSharing, value);
        }

        public Quotas withPageSharing(boolean value) {
            return new Quotas(maxVms, maxTotalGuestBytes, auditLog, journalBuffers, value, connections);
        }
    }

    /**
     * What a peer may hold of the collector's network side before it has proved anything.
     *
     * @param max       connections open at once (TCP, any peer, before TLS); one more is closed as it is accepted
     * @param handshake a connection whose TLS and HTTP/2 handshake has not completed by then is closed
     * @param idle      a connection without a call for this long is closed (an agent always has its Lease call open)
     */
    public record Connections(int max, Duration handshake, Duration idle) {
        public static final Connections DEFAULT = new Connections(
                Math.toIntExact(CollectorKeys.MAX_CONNECTIONS.defaultValue()),
                Duration.ofMillis(CollectorKeys.HANDSHAKE_TIMEOUT_MS.defaultValue()),
                Duration.ofMillis(CollectorKeys.IDLE_TIMEOUT_MS.defaultValue()));

        public Connections {
            if (max < 1 || handshake.isNegative() || handshake.isZero() || idle.isNegative() || idle.isZero()) {
                throw new IllegalArgumentException("connection limits must be positive");
            }
        }
    }

    /**
     * @param advertise where agents in the pool reach this collector; null: the listen address (this machine's
     *                  name for a wildcard host)
     * @param hostName  the machine this collector stands for in placement (an agent is never placed on its own
     *                  host); empty: this machine's name
     */
    public record PoolSettings(HostPort advertise, String hostName) {
        public static final PoolSettings DEFAULT = new PoolSettings(null, "");
    }

    public CollectorConfig {
        if (lease.isNegative() || lease.isZero()) {
            throw new IllegalArgumentException("the lease must be positive");
        }
        if (autoPromoteAfter != null && autoPromoteAfter.compareTo(lease) < 0) {
            throw new IllegalArgumentException("automatic promotion needs a silence of at least one lease ("
                    + lease.toMillis() + " ms)");
        }
    }

    /** The defaults of {@link CollectorKeys}, listening on {@code host:port} with its data in {@code dataDirectory}. */
    public static CollectorConfig of(String host, int port, Path dataDirectory) {
        return new CollectorConfig(host, port, dataDirectory, CollectorKeys.DURABILITY.defaultValue(),
                CollectorKeys.MAX_GUEST_BYTES.defaultValue(), Duration.ofSeconds(CollectorKeys.DRAIN_SECONDS.defaultValue()),
                Duration.ofMillis(CollectorKeys.LEASE_MS.defaultValue()), null, null, PoolSettings.DEFAULT, Quotas.DEFAULT,
                TlsSettings.INSECURE, Lockstep.DEFAULT);
    }

    public CollectorConfig withDurability(Durability value) {
        return new CollectorConfig(host, port, dataDirectory, value, maxGuestBytes, drain, lease, autoPromoteAfter, zookeeper, pool, quotas, tls, lockstep);
    }

    public CollectorConfig withDrain(Duration value) {
        return new CollectorConfig(host, port, dataDirectory, durability, maxGuestBytes, value, lease, autoPromoteAfter,
                zookeeper, pool, quotas, tls, lockstep);
    }

    public CollectorConfig withPort(int value) {
        return new CollectorConfig(host, value, dataDirectory, durability, maxGuestBytes, drain, lease, autoPromoteAfter, zookeeper, pool, quotas, tls, lockstep);
    }

    public CollectorConfig withLease(Duration value) {
        return new CollectorConfig(host, port, dataDirectory, durability, maxGuestBytes, drain, value, autoPromoteAfter, zookeeper, pool, quotas, tls, lockstep);
    }

    public CollectorConfig withAutoPromoteAfter(Duration value) {
        return new CollectorConfig(host, port, dataDirectory, durability, maxGuestBytes, drain, lease, value, zookeeper, pool, quotas, tls, lockstep);
    }

    public CollectorConfig withZooKeeper(String value) {
        return new CollectorConfig(host, port, dataDirectory, durability, maxGuestBytes, drain, lease, autoPromoteAfter,
                value, pool, quotas, tls, lockstep);
    }

    public CollectorConfig withPool(PoolSettings value) {
        return new CollectorConfig(host, port, dataDirectory, durability, maxGuestBytes, drain, lease, autoPromoteAfter,
                zookeeper, value, quotas, tls, lockstep);
    }

    public CollectorConfig withQuotas(Quotas value) {
        return new CollectorConfig(host, port, dataDirectory, durability, maxGuestBytes, drain, lease, autoPromoteAfter,
                zookeeper, pool, value, tls, lockstep);
    }

    public CollectorConfig withTls(TlsSettings value) {
        return new CollectorConfig(host, port, dataDirectory, durability, maxGuestBytes, drain, lease, autoPromoteAfter,
                zookeeper, pool, quotas, value, lockstep);
    }

    public CollectorConfig withMaxGuestBytes(long value) {
        return new CollectorConfig(host, port, dataDirectory, durability, value, drain, lease, autoPromoteAfter,
                zookeeper, pool, quotas, tls, lockstep);
    }

    public CollectorConfig withLockstep(Lockstep value) {
        return new CollectorConfig(host, port, dataDirectory, durability, maxGuestBytes, drain, lease, autoPromoteAfter,
                zookeeper, pool, quotas, tls, value);
    }
}
