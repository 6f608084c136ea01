package io.cpstream.collector;

import io.cpstream.collector.store.Durability;
import io.cpstream.config.ConfigKey;
import io.cpstream.config.HostPort;
import io.cpstream.config.Parsers;
import java.nio.file.Path;
import java.util.List;

/**
 * Every setting of the collector daemon: the options of {@code cpstream collector} and the keys of its config file
 * (deploy/config/collector.yaml), each with its default and doc. {@link CollectorConfig#of} takes its defaults from
 * here, and so do the launcher's options.
 */
public final class CollectorKeys {

    private CollectorKeys() {
    }

    public static final ConfigKey<HostPort> LISTEN = ConfigKey.of("listen", new HostPort("127.0.0.1", 7700),
            "HOST:PORT to serve agents and admin on (loopback unless configured)", Parsers::address);

    public static final ConfigKey<Path> DATA_DIR = ConfigKey.required("data-dir", Path.class,
            "Directory for standby images and snapshots", Parsers::path);

    public static final ConfigKey<Integer> METRICS_PORT = ConfigKey.of("metrics-port", 9465,
            "Port for /metrics and /health (mutual TLS for reader and admin certificates, unless --insecure); 0 "
                    + "turns it off", Parsers::port);

    public static final ConfigKey<String> METRICS_LISTEN = ConfigKey.optional("metrics-listen", String.class,
            "Host /metrics and /health bind to; default: the host of --listen", Parsers::text);

    public static final ConfigKey<Durability> DURABILITY = ConfigKey.of("durability", Durability.NONE,
            "none: an acked epoch survives a crash of the collector process (a host crash leaves the standby needing a "
                    + "full sync); fsync: also a power loss of this host",
            Parsers.choice(Durability.class, "a durability"));

    public static final ConfigKey<Long> MAX_GUEST_BYTES = ConfigKey.of("max-guest-bytes", 64L << 30,
            "Largest guest accepted, in bytes; a Hello declaring more is refused", Parsers.atLeast(4096));

    public static final ConfigKey<Long> MAX_TOTAL_GUEST_BYTES = ConfigKey.of("max-total-guest-bytes", 256L << 30,
            "All standbys' guests together, in bytes; a Hello for a new VM beyond it is refused (the collector's heap "
                    + "holds 16 bytes per 1024 declared pages of it, and about 9 bytes per page written)", Parsers.atLeast(4096));

    public static final ConfigKey<Long> MAX_VMS = ConfigKey.of("max-vms", 128L,
            "Standbys kept at most; a Hello for one more is refused", Parsers.between(1, 1 << 20, "VMs"));

    public static final ConfigKey<Long> JOURNAL_BUFFERS = ConfigKey.of("journal-buffers", 16L,
            "Direct buffers of 1 MiB shared by every VM's journal (a VM borrows one while it stages a message, seals or "
                    + "applies); the journals' direct memory stays within this many MiB whatever the number of VMs",
            Parsers.between(1, 4096, "buffers"));

    public static final ConfigKey<Boolean> PAGE_SHARING = ConfigKey.of("page-sharing", false,
            "Store identical pages of all standbys once, in <data-dir>/shared (hashed, compared byte for byte, copied "
                    + "on the next write); costs a hash per page applied and about 28 bytes of heap per distinct page",
            Parsers::flag);

    public static final ConfigKey<Long> LOCKSTEP_SECONDARIES = ConfigKey.of("lockstep-secondaries", 4L,
            "Quasi-lockstep secondaries run at once, over all VMs (each an emulated guest of its primary's memory "
                    + "size and a thread); a primary beyond it is told none runs for it; 0: none",
            Parsers.between(0, 4096, "secondaries"));

    public static final ConfigKey<Long> LOCKSTEP_VERIFY_MS = ConfigKey.of("lockstep-verify-ms", 30_000L,
            "How often a lockstep secondary's memory is compared with the committed checkpoint replayed to the same "
                    + "input (it pauses for two digests of guest memory); 0: never", Parsers.atLeast(0));

    public static final ConfigKey<Long> MAX_CONNECTIONS = ConfigKey.of("max-connections", 1024L,
            "TCP connections open at once, from any peer and before TLS; one more is closed as it is accepted (each "
                    + "agent holds one or two)", Parsers.between(1, 1 << 20, "connections"));

    public static final ConfigKey<Long> HANDSHAKE_TIMEOUT_MS = ConfigKey.of("handshake-timeout-ms", 10_000L,
            "A connection that has not completed its TLS and HTTP/2 handshake by then is closed",
            Parsers.atLeast(1));

    public static final ConfigKey<Long> IDLE_TIMEOUT_MS = ConfigKey.of("idle-timeout-ms", 300_000L,
            "A connection without a call for this long is closed (agents always have one open)", Parsers.atLeast(1));

    public static final ConfigKey<Long> LEASE_MS = ConfigKey.of("lease-ms", 2000L,
            "How long one heartbeat lets a primary release output; promotion without --force waits it out",
            Parsers.atLeast(1));

    public static final ConfigKey<Long> AUTO_PROMOTE_AFTER_MS = ConfigKey.of("auto-promote-after-ms", 0L,
            "Promote a VM by itself once its primary was silent this long and its lease ran out; 0: never",
            Parsers.atLeast(0));

    public static final ConfigKey<String> ZOOKEEPER = ConfigKey.optional("zookeeper", String.class,
            "ZooKeeper connect string (host:port[,...]) for leases and fencing epochs shared with other collectors",
            Parsers::text);

    public static final ConfigKey<HostPort> ADVERTISE = ConfigKey.optional("advertise", HostPort.class,
            "HOST:PORT agents of the pool reach this collector at (with --zookeeper); default: --listen, with this "
                    + "machine's name for a wildcard host", Parsers::address);

    public static final ConfigKey<String> HOST_NAME = ConfigKey.of("host-name", "",
            "The machine this collector stands for in the pool: no agent of that host is placed here; empty: this "
                    + "machine's name", Parsers::text);

    public static final ConfigKey<Long> DRAIN_SECONDS = ConfigKey.of("drain-seconds", 5L,
            "On stop, how long open streams may finish before they are cut; keep the unit's TimeoutStopSec above it",
            Parsers.atLeast(0));

    public static final ConfigKey<Long> HEALTH_MAX_LAG_MS = ConfigKey.of("health-max-lag-ms", 5000L,
            "/health is unhealthy while a replicating VM's standby is older than this", Parsers.atLeast(1));

    public static final ConfigKey<Path> TLS_CERT = ConfigKey.optional("tls-cert", Path.class,
            "PEM certificate of this collector (cpstream pki issue --role collector); reloaded when it changes",
            Parsers::path);

    public static final ConfigKey<Path> TLS_KEY = ConfigKey.optional("tls-key", Path.class,
            "PEM private key of --tls-cert", Parsers::path);

    public static final ConfigKey<Path> TLS_CA = ConfigKey.optional("tls-ca", Path.class,
            "PEM CA certificate(s) agents and operators must be issued by", Parsers::path);

    public static final ConfigKey<Boolean> INSECURE = ConfigKey.of("insecure", false,
            "Plaintext without authentication instead of mutual TLS: anyone reaching --listen may act on every VM",
            Parsers::flag);

    public static final ConfigKey<Path> AUDIT_LOG = ConfigKey.optional("audit-log", Path.class,
            "File admin actions are appended to (who, what, when, result); they always go to the log too",
            Parsers::path);

    /** Every key, in the order {@code cpstream collector} declares its options. */
    public static final List<ConfigKey<?>> ALL = List.of(LISTEN, DATA_DIR, METRICS_PORT, METRICS_LISTEN, DURABILITY,
            MAX_GUEST_BYTES, MAX_TOTAL_GUEST_BYTES, MAX_VMS, MAX_CONNECTIONS, HANDSHAKE_TIMEOUT_MS, IDLE_TIMEOUT_MS, JOURNAL_BUFFERS, PAGE_SHARING, LOCKSTEP_SECONDARIES, LOCKSTEP_VERIFY_MS, LEASE_MS, AUTO_PROMOTE_AFTER_MS, ZOOKEEPER, ADVERTISE,
            HOST_NAME, DRAIN_SECONDS, HEALTH_MAX_LAG_MS, TLS_CERT, TLS_KEY, TLS_CA, INSECURE, AUDIT_LOG);
}
