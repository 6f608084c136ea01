package io.cpstream.cli;

import com.codahale.metrics.health.HealthCheck;
import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentStats;
import io.cpstream.agent.EncodingMode;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The agent daemon, one per protected guest. Every long option is also a key of its {@code --config}
 * file (see {@link ConfigFile}); deploy/config/agent.yaml documents them all.
 */
@Command(name = "agent", mixinStandardHelpOptions = true,
        description = "Run the checkpoint agent: protects one guest by streaming its checkpoints to a collector.")
final class AgentCommand implements Callable<Integer> {

    @Option(names = ConfigFile.OPTION, paramLabel = "FILE",
            description = "YAML file whose keys are this command's long options; flags override it")
    Path config;

    // --collector and --vm are not required=true: they may come from the config file; checked in call().
    @Option(names = "--collector", converter = Converters.Address.class, description = "HOST:PORT of the collector (required)")
    HostPort collector;

    @Option(names = "--vm", description = "Name of this VM on the collector (required)")
    String vm;

    @Option(names = "--source", defaultValue = MemorySources.DEFAULT_SPEC,
            description = "What to protect, e.g. sim:mem=64m,workload=zipf (default: ${DEFAULT-VALUE})")
    String source;

    @Option(names = "--metrics-port", defaultValue = "9464", converter = Converters.Port.class,
            description = "Port for /metrics and /health; 0 turns it off (default: ${DEFAULT-VALUE})")
    int metricsPort;

    @Option(names = "--epoch-ms", defaultValue = "10", converter = Converters.Positive.class,
            description = "Target time between checkpoints (default: ${DEFAULT-VALUE})")
    long epochMillis;

    @Option(names = "--fencing-epoch", defaultValue = "0", converter = Converters.NonNegative.class,
            description = "Fencing epoch to present to the collector (default: ${DEFAULT-VALUE})")
    long fencingEpoch;

    // arity 0..1 rather than negatable: picocli inverts a negatable flag whose default (here maybe from
    // the config file) is true, so --verify=false is how a flag turns off what the file turned on.
    @Option(names = "--verify", arity = "0..1", fallbackValue = "true",
            description = "Have the collector check its image against the guest's SHA-256 at every epoch (slow); "
                    + "--verify=false turns it off")
    boolean verify;

    @Option(names = "--output-sink", defaultValue = "none",
            description = "Where committed guest output is released: none, file:PATH or tcp://HOST:PORT (default: ${DEFAULT-VALUE})")
    String outputSink;

    @Option(names = "--max-pending-output", defaultValue = "1048576", converter = Converters.Positive.class,
            description = "Bytes of guest output held until committed, at most; beyond it the guest waits (default: ${DEFAULT-VALUE})")
    long maxPendingOutput;

    @Option(names = "--health-max-lag-ms", defaultValue = "5000", converter = Converters.Positive.class,
            description = "/health is unhealthy while the newest acknowledged epoch is older than this (default: ${DEFAULT-VALUE})")
    long healthMaxLagMillis;

    @Option(names = "--encoding", defaultValue = "cpstream", description = "How pages travel: cpstream (zero, duplicate, "
            + "delta, LZ4), lz4 (each page alone) or full (every page whole) (default: ${DEFAULT-VALUE})")
    String encoding;

    @Option(names = "--delta-cache", defaultValue = "64m", description = "Memory for copies of what the collector "
            + "holds, to send deltas against, e.g. 256m (default: ${DEFAULT-VALUE})")
    String deltaCache;

    @Option(names = "--split", defaultValue = "history", description = "What the stun copies: history (hot pages; stable "
            + "ones after the resume, copy-before-write) or copy-all (default: ${DEFAULT-VALUE})")
    String split;

    @Option(names = "--max-stun-ms", description = "Target maximum stun; epochs shorten to meet it, and the agent reports when they cannot")
    Double maxStunMillis;

    @Option(names = "--max-mbps", defaultValue = "0", description = "Bandwidth budget of the checkpoint stream in Mbit/s; "
            + "epochs lengthen to meet it (0: none)")
    double maxMbps;

    @Option(names = "--json", description = "Print one JSON object when the agent stops")
    boolean json;

    /** The stun options of agent and bench, checked. */
    static io.cpstream.agent.StunConfig stunConfig(String split, Double maxStunMillis, double maxMbps) {
        io.cpstream.agent.StunConfig.Split mode = switch (split) {
            case "history" -> io.cpstream.agent.StunConfig.Split.HISTORY;
            case "copy-all" -> io.cpstream.agent.StunConfig.Split.COPY_ALL;
            default -> throw new Errors.UserError("--split must be history or copy-all, not " + split);
        };
        if (maxStunMillis != null && maxStunMillis <= 0) {
            throw new Errors.UserError("--max-stun-ms must be positive");
        }
        if (maxMbps < 0) {
            throw new Errors.UserError("--max-mbps must not be negative");
        }
        io.cpstream.agent.StunConfig config = io.cpstream.agent.StunConfig.DEFAULT.withSplit(mode).withMaxMbps(maxMbps);
        return maxStunMillis == null ? config : config.withMaxStun(Duration.ofNanos((long) (maxStunMillis * 1e6)));
    }

    @Override
    public Integer call() throws Exception {
        String target = Options.require(collector, "--collector").target();
        Options.require(vm, "--vm");
        AgentConfig settings = AgentConfig.of(target, vm).withEpochInterval(Duration.ofMillis(epochMillis))
                .withFencingEpoch(fencingEpoch).withVerify(verify).withOutputSink(outputSink)
                .withMaxPendingOutputBytes(maxPendingOutput).withEncoding(EncodingMode.parse(encoding))
                .withDeltaCacheBytes(ByteSize.parse(deltaCache, "--delta-cache"))
                .withStun(stunConfig(split, maxStunMillis, maxMbps));
        try (MemorySource guest = MemorySources.open(source);
             MetricsEndpoint metrics = new MetricsEndpoint(metricsPort);
             Agent agent = new Agent(settings, guest, metrics.registry())) {
            metrics.check("connected", () -> connected(agent, target));
            metrics.check("lag", () -> lag(agent, healthMaxLagMillis));
            metrics.check("lease", () -> lease(agent));
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                SdNotify.stopping("stopping replication of " + vm);
                agent.close();
            }, "agent-shutdown"));
            agent.start();
            String ready = String.format("protecting %s (%s, %d MiB) via %s, metrics on :%d", vm, source,
                    guest.memoryBytes() >> 20, target, metrics.port());
            System.out.println("cpstream agent " + ready);
            SdNotify.ready(ready);
            while (!agent.awaitTermination(Duration.ofSeconds(10))) {
                AgentStats.Snapshot s = agent.stats();
                System.out.printf("epoch %d acked, %d checkpoints, pause p50 %.2f ms p99 %.2f ms, lag p50 %.1f ms%n",
                        agent.acknowledgedEpoch(), s.checkpoints(), s.pauseMsP50(), s.pauseMsP99(), s.lagMsP50());
            }
            if (json) {
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("vm", vm);
                result.put("acked_epoch", agent.acknowledgedEpoch());
                result.put("outputs_released", agent.outputsReleased());
                result.put("failure", agent.failure() == null ? null : Errors.describe(agent.failure()));
                Json.print(System.out, result);
            }
            if (agent.failure() != null) {
                System.err.println("cpstream agent: stopped: " + Errors.describe(agent.failure()));
                return 1;
            }
        }
        return 0;
    }

    static HealthCheck.Result connected(Agent agent, String target) {
        if (agent.failure() != null) {
            return HealthCheck.Result.unhealthy("stopped: " + Errors.describe(agent.failure()));
        }
        return agent.connected() ? HealthCheck.Result.healthy("streaming to " + target)
                : HealthCheck.Result.unhealthy("not connected to the collector at " + target);
    }

    static HealthCheck.Result lag(Agent agent, long maxMillis) {
        Duration age = agent.acknowledgedAge();
        if (age == null) {
            return HealthCheck.Result.unhealthy("no epoch acknowledged yet");
        }
        String text = "newest acknowledged epoch " + agent.acknowledgedEpoch() + " is " + age.toMillis() + " ms old";
        return age.toMillis() <= maxMillis ? HealthCheck.Result.healthy(text)
                : HealthCheck.Result.unhealthy(text + " (limit " + maxMillis + " ms)");
    }

    static HealthCheck.Result lease(Agent agent) {
        if (agent.holdsLease()) {
            return HealthCheck.Result.healthy("holds its lease at fencing epoch " + agent.fencingEpoch());
        }
        return HealthCheck.Result.unhealthy(agent.failure() != null
                ? "stopped: " + Errors.describe(agent.failure()) + "; this agent must not release output"
                : "no lease: the collector has not renewed it (not connected, or it cannot vouch for this primary)");
    }
}
