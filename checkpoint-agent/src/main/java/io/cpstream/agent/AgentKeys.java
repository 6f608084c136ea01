package io.cpstream.agent;

import io.cpstream.config.ConfigKey;
import io.cpstream.config.HostPort;
import io.cpstream.config.Parsers;
import io.cpstream.proto.Limit;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import java.nio.file.Path;
import java.util.List;

/**
 * Every setting of the agent daemon: the options of {@code cpstream agent} and the keys of its config file
 * (deploy/config/agent.yaml), each with its default and doc. {@link AgentConfig#of} and {@link StunConfig#DEFAULT}
 * take their defaults from here, and so do the launcher's options.
 */
public final class AgentKeys {

    private AgentKeys() {
    }

    public static final ConfigKey<HostPort> COLLECTOR = ConfigKey.optional("collector", HostPort.class,
            "HOST:PORT of the collector (or --collectors)", Parsers::address);

    public static final ConfigKey<String> COLLECTORS = ConfigKey.optional("collectors", String.class,
            "Instead of one collector, a pool to be placed on, and re-placed in when one is lost: zk: and a ZooKeeper "
                    + "connect string (the collectors registered there), or a list of HOST:PORT separated by commas",
            Parsers::text);

    public static final ConfigKey<String> ZOOKEEPER = ConfigKey.optional("zookeeper", String.class,
            "ZooKeeper connect string of the ensemble holding the fencing epochs: the authority that lets this "
                    + "primary go on alone after losing its standby (implied by a zk: pool)", Parsers::text);

    public static final ConfigKey<Long> STANDBY_TIMEOUT_MS = ConfigKey.of("standby-timeout-ms", 0L,
            "How long without a standby before this primary goes on alone (fenced by the authority); 0: two of the "
                    + "leases the collector grants", Parsers.atLeast(0));

    public static final ConfigKey<FailoverConfig.OnLoss> ON_STANDBY_LOSS = ConfigKey.of("on-standby-loss",
            FailoverConfig.OnLoss.WAIT, "Without an authority, after the standby timeout: wait (outputs wait for a "
                    + "standby) or continue (release unprotected; two primaries if the lost collector promotes)",
            Parsers.choice(FailoverConfig.OnLoss.class, "a policy"));

    public static final ConfigKey<String> HOST_NAME = ConfigKey.of("host-name", "",
            "The machine this agent stands for in placement: never placed on a collector of that host; empty: this "
                    + "machine's name", Parsers::text);

    public static final ConfigKey<String> VM = ConfigKey.required("vm", String.class,
            "Name of this VM on the collector", Parsers::text);

    public static final ConfigKey<String> SOURCE = ConfigKey.of("source", MemorySources.DEFAULT_SPEC,
            "What to protect, e.g. sim:mem=64m,workload=zipf", Parsers::text);

    public static final ConfigKey<Integer> METRICS_PORT = ConfigKey.of("metrics-port", 9464,
            "Port for /metrics and /health (mutual TLS for reader and admin certificates, unless --insecure); 0 "
                    + "turns it off", Parsers::port);

    public static final ConfigKey<Long> EPOCH_MS = ConfigKey.of("epoch-ms", 10L,
            "Target time between checkpoints, in milliseconds", Parsers.atLeast(1));

    public static final ConfigKey<Long> FENCING_EPOCH = ConfigKey.of("fencing-epoch", 0L,
            "Fencing epoch to present to the collector", Parsers.atLeast(0));

    public static final ConfigKey<ProtectionMode> PROTECT = ConfigKey.of("protect", ProtectionMode.CHECKPOINT,
            "checkpoint: output waits for the checkpoint of its epoch; replay (emu sources): the guest's inputs stream "
                    + "to the collector as they come and output waits only for those before it; lockstep (emu "
                    + "sources): replay, and the collector runs a secondary that must emit the same output before it "
                    + "is released, resynchronized from a checkpoint when it does not",
            Parsers.choice(ProtectionMode.class, "a protection"));

    public static final ConfigKey<Path> RECORD_INPUTS = ConfigKey.optional("record-inputs", Path.class,
            "With --protect replay or lockstep: also write every input the guest gets to this file (an event journal from the "
                    + "guest's boot), for cpstream replay --boot and for checking a promoted VM against its primary",
            Parsers::path);

    public static final ConfigKey<Boolean> VERIFY = ConfigKey.of("verify", false,
            "Have the collector check its image against the guest's SHA-256 at every epoch (slow)", Parsers::flag);

    public static final ConfigKey<String> OUTPUT_SINK = ConfigKey.of("output-sink", "none",
            "Where committed guest output is released: none, file:PATH or tcp://HOST:PORT", Parsers::text);

    public static final ConfigKey<Long> MAX_PENDING_OUTPUT = ConfigKey.of("max-pending-output", 1L << 20,
            "Bytes of guest output held until committed, at most; beyond it the guest waits",
            Parsers.between(MemorySource.MAX_OUTPUT_RECORD_BYTES, Limit.MAX_HELD_OUTPUT_BYTES_VALUE,
                    "at least one output record, at most what a standby keeps"));

    public static final ConfigKey<Long> HEALTH_MAX_LAG_MS = ConfigKey.of("health-max-lag-ms", 5000L,
            "/health is unhealthy while the newest acknowledged epoch is older than this", Parsers.atLeast(1));

    public static final ConfigKey<EncodingMode> ENCODING = ConfigKey.of("encoding", EncodingMode.CPSTREAM,
            "How pages travel: cpstream (zero, duplicate, delta, LZ4), lz4 (each page alone) or full (every page whole)",
            Parsers.choice(EncodingMode.class, "an encoding"));

    public static final ConfigKey<Long> DELTA_CACHE = ConfigKey.of("delta-cache", 64L << 20,
            "Memory for copies of what the collector holds, to send deltas against, e.g. 256m", Parsers::size)
            .writtenAs(Parsers::writeSize);

    public static final ConfigKey<StunConfig.Split> SPLIT = ConfigKey.of("split", StunConfig.Split.HISTORY,
            "What the stun copies: history (hot pages; stable ones after the resume, copy-before-write) or copy-all",
            Parsers.choice(StunConfig.Split.class, "a split"));

    public static final ConfigKey<Double> MAX_STUN_MS = ConfigKey.optional("max-stun-ms", Double.class,
            "Target maximum stun; epochs shorten to meet it, and the agent reports when they cannot",
            Parsers.decimalAbove(0));

    public static final ConfigKey<Double> MAX_MBPS = ConfigKey.of("max-mbps", 0.0,
            "Bandwidth budget of the checkpoint stream in Mbit/s; epochs lengthen to meet it, 0: none",
            Parsers.decimalAtLeast(0));

    public static final ConfigKey<String> METRICS_LISTEN = ConfigKey.of("metrics-listen", "127.0.0.1",
            "Host /metrics and /health bind to (0.0.0.0 for a Prometheus on another host)", Parsers::text);

    public static final ConfigKey<Path> TLS_CERT = ConfigKey.optional("tls-cert", Path.class,
            "PEM certificate of this agent (cpstream pki issue --role agent --vm VM); reloaded when it changes",
            Parsers::path);

    public static final ConfigKey<Path> TLS_KEY = ConfigKey.optional("tls-key", Path.class,
            "PEM private key of --tls-cert", Parsers::path);

    public static final ConfigKey<Path> TLS_CA = ConfigKey.optional("tls-ca", Path.class,
            "PEM CA certificate(s) the collector and the output sink must be issued by", Parsers::path);

    public static final ConfigKey<Boolean> INSECURE = ConfigKey.of("insecure", false,
            "Plaintext without authentication to the collector and the sink, instead of mutual TLS", Parsers::flag);

    /** Every key, in the order {@code cpstream agent} declares its options. */
    public static final List<ConfigKey<?>> ALL = List.of(COLLECTOR, COLLECTORS, ZOOKEEPER, STANDBY_TIMEOUT_MS,
            ON_STANDBY_LOSS, HOST_NAME, VM, SOURCE, METRICS_PORT, METRICS_LISTEN, EPOCH_MS, FENCING_EPOCH,
            PROTECT, RECORD_INPUTS, VERIFY, OUTPUT_SINK, MAX_PENDING_OUTPUT, HEALTH_MAX_LAG_MS, ENCODING, DELTA_CACHE, SPLIT, MAX_STUN_MS,
            MAX_MBPS, TLS_CERT, TLS_KEY, TLS_CA, INSECURE);
}
