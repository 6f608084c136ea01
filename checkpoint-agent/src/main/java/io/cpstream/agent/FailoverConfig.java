package io.cpstream.agent;

import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * What the agent does when it loses its standby, and where it finds another.
 *
 * @param pool           the collectors to be placed on instead of one fixed collector: {@code zk:CONNECT} (the
 *                       pool registered in that ZooKeeper ensemble, which is then also the authority), or a list
 *                       {@code host:port,host:port}; null: the fixed collector of {@link AgentConfig#collector()}
 * @param zookeeper      the ZooKeeper ensemble that holds the VMs' fencing epochs (the authority that lets a
 *                       primary go on alone); implied by a {@code zk:} pool; null: none
 * @param standbyTimeout how long the agent may be without a standby before it goes on alone; null: two of the
 *                       leases its collector grants (4 s at the collector's default lease)
 * @param withoutAuthority what to do after that without an authority: {@link OnLoss#WAIT} keeps every output in
 *                       (the service waits for the standby), {@link OnLoss#CONTINUE} releases them unprotected, at
 *                       the risk of two primaries if the lost collector promotes meanwhile
 * @param hostName       the machine this agent stands for in placement (it is never placed on a collector of its
 *                       own host); empty: this machine's name
 */
public record FailoverConfig(String pool, String zookeeper, Duration standbyTimeout, OnLoss withoutAuthority,
                             String hostName) {

    public static final FailoverConfig DEFAULT = new FailoverConfig(null, null, null, OnLoss.WAIT, "");
    /** Leases granted when none was seen yet (the collector's default), for the default standby timeout. */
    static final Duration DEFAULT_LEASE = Duration.ofSeconds(2);

    /** Without an authority to fence the old standby, whether the primary goes on alone. */
    public enum OnLoss {
        WAIT, CONTINUE;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public FailoverConfig {
        Objects.requireNonNull(withoutAuthority, "withoutAuthority");
        Objects.requireNonNull(hostName, "hostName");
        if (standbyTimeout != null && (standbyTimeout.isNegative() || standbyTimeout.isZero())) {
            throw new IllegalArgumentException("the standby timeout must be positive");
        }
        if (pool != null && pool.startsWith("zk:") && zookeeper == null) {
            zookeeper = pool.substring(3);
        }
    }

    /** The ZooKeeper ensemble of a {@code zk:} pool, or null. */
    String poolZooKeeper() {
        return pool != null && pool.startsWith("zk:") ? pool.substring(3) : null;
    }

    /** How long without a standby before going on alone, given the lease the collector grants. */
    Duration timeout(Duration lease) {
        return standbyTimeout != null ? standbyTimeout : (lease != null ? lease : DEFAULT_LEASE).multipliedBy(2);
    }
}
