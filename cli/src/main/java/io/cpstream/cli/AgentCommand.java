package io.cpstream.cli;

import com.codahale.metrics.health.HealthCheck;
import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentKeys;
import io.cpstream.agent.AgentStats;
import io.cpstream.agent.EncodingMode;
import io.cpstream.agent.ProtectionMode;
import io.cpstream.agent.FailoverConfig;
import io.cpstream.agent.StunConfig;
import io.cpstream.config.ConfigKey;
import io.cpstream.config.HostPort;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The agent daemon, one per protected guest. Its settings are {@link AgentKeys}: every long option but
 * {@code --config} and {@code --json} is one, and also a key of its {@code --config} file (see {@link ConfigFile});
 * deploy/config/agent.yaml documents them all.
 */
@Command(name = "agent", mixinStandardHelpOptions = true, modelTransformer = KeyedOptions.class,
        description = "Run the checkpoint agent: protects one guest by streaming its checkpoints to a collector.")
final class AgentCommand implements Callable<Integer>, KeyedOptions.Keyed {

    @Option(names = ConfigFile.OPTION, paramLabel = "FILE",
            description = "YAML file whose keys are this command's long options; flags override it")
    Path config;

    // Default, description and parser of each option below come from its key in AgentKeys (KeyedOptions).
    // --collector and --vm are not required=true: they may come from the config file; checked in call().
    @Option(names = "--collector")
    HostPort collector;

    @Option(names = "--collectors")
    String collectors;

    @Option(names = "--zookeeper")
    String zookeeper;

    @Option(names = "--standby-timeout-ms")
    long standbyTimeoutMillis;

    @Option(names = "--on-standby-loss")
    FailoverConfig.OnLoss onStandbyLoss;

    @Option(names = "--host-name")
    String hostName;

    @Option(names = "--vm")
    String vm;

    @Option(names = "--source")
    String source;

    @Option(names = "--metrics-port")
    int metricsPort;

    @Option(names = "--metrics-listen")
    String metricsListen;

    @Option(names = "--epoch-ms")
    long epochMillis;

    @Option(names = "--fencing-epoch")
    long fencingEpoch;

    // arity 0..1 rather than negatable: picocli inverts a negatable flag whose default (here maybe from
    // the config file) is true, so --verify=false is how a flag turns off what the file turned on.
    @Option(names = "--protect")
    ProtectionMode protect;

    @Option(names = "--record-inputs")
    Path recordInputs;

    @Option(names = "--verify", arity = "0..1", fallbackValue = "true", description = "--verify=false turns it off")
    boolean verify;

    @Option(names = "--output-sink")
    String outputSink;

    @Option(names = "--max-pending-output")
    long maxPendingOutput;

    @Option(names = "--health-max-lag-ms")
    long healthMaxLagMillis;

    @Option(names = "--encoding")
    EncodingMode encoding;

    @Option(names = "--delta-cache")
    long deltaCache;

    @Option(names = "--split")
    StunConfig.Split split;

    @Option(names = "--max-stun-ms")
    Double maxStunMillis;

    @Option(names = "--max-mbps")
    double maxMbps;

    @Option(names = "--tls-cert")
    Path tlsCert;

    @Option(names = "--tls-key")
    Path tlsKey;

    @Option(names = "--tls-ca")
    Path tlsCa;

    @Option(names = "--insecure", arity = "0..1", fallbackValue = "true")
    boolean insecure;

    @Option(names = "--json", description = "Print one JSON object when the agent stops")
    boolean json;

    @Override
    public List<ConfigKey<?>> keys() {
        return AgentKeys.ALL;
    }

    /** The stun settings of agent and bench (each checked by its key). */
    static StunConfig stunConfig(StunConfig.Split split, Double maxStunMillis, double maxMbps) {
        StunConfig config = StunConfig.DEFAULT.withSplit(split).withMaxMbps(maxMbps);
        return maxStunMillis == null ? config : config.withMaxStun(Duration.ofNanos((long) (maxStunMillis * 1e6)));
    }

    @Override
    public Integer call() throws Exception {
        if ((collector == null) == (collectors == null)) {
            throw new Errors.UserError("give --collector HOST:PORT or --collectors (a pool), one of them: on the "
                    + "command line or as 'collector:' or 'collectors:' in the " + ConfigFile.OPTION + " file");
        }
        String target = collector != null ? collector.target() : collectors;
        Options.require(vm, AgentKeys.VM);
        if (recordInputs != null && protect == ProtectionMode.CHECKPOINT) {
            throw new Errors.UserError("--record-inputs records what --protect replay (or lockstep) streams; give both");
        }
        FailoverConfig failover = new FailoverConfig(collectors, zookeeper,
                standbyTimeoutMillis > 0 ? Duration.ofMillis(standbyTimeoutMillis) : null, onStandbyLoss, hostName);
        AgentConfig settings = AgentConfig.of(collector != null ? target : "unused", vm).withFailover(failover)
                .withEpochInterval(Duration.ofMillis(epochMillis))
                .withFencingEpoch(fencingEpoch).withVerify(verify).withOutputSink(outputSink)
                .withMaxPendingOutputBytes(maxPendingOutput).withEncoding(encoding).withDeltaCacheBytes(deltaCache)
                .withStun(stunConfig(split, maxStunMillis, maxMbps))
                .withTls(TlsOptions.settings(tlsCert, tlsKey, tlsCa, insecure));
        try (MemorySource guest = MemorySources.open(source);
             MetricsEndpoint metrics = new MetricsEndpoint(metricsListen, metricsPort, settings.tls());
             Agent agent = new Agent(settings, guest, metrics.registry())) {
            metrics.check("connected", () -> connected(agent, target));
            metrics.check("lag", () -> lag(agent, healthMaxLagMillis));
            metrics.check("lease", () -> lease(agent));
            metrics.check("protected", () -> protectedByStandby(agent));
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                SdNotify.stopping("stopping replication of " + vm);
                agent.close();
            }, "agent-shutdown"));
            if (protect != ProtectionMode.CHECKPOINT) {
                try {
                    if (protect == ProtectionMode.LOCKSTEP) {
                        agent.protectByLockstep(recordInputs);
                    } else {
                        agent.protectByReplay(recordInputs);
                    }
                } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
                    throw new Errors.UserError(e.getMessage());
                }
            }
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
        return agent.connected() ? HealthCheck.Result.healthy("streaming to " + agent.collector())
                : HealthCheck.Result.unhealthy("not connected to a collector of " + target);
    }

    /** A standby protects this primary (it is not running alone after losing one). */
    static HealthCheck.Result protectedByStandby(Agent agent) {
        return agent.protectedByStandby() ? HealthCheck.Result.healthy("a standby protects this primary")
                : HealthCheck.Result.unhealthy("running UNPROTECTED since its standby was lost (fencing epoch "
                        + agent.fencingEpoch() + "); waiting for a collector to protect it again");
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
        if (agent.failure() == null && !agent.protectedByStandby()) {
            return HealthCheck.Result.healthy("going on alone at fencing epoch " + agent.fencingEpoch()
                    + ": the authority fenced its lost standby");
        }
        return HealthCheck.Result.unhealthy(agent.failure() != null
                ? "stopped: " + Errors.describe(agent.failure()) + "; this agent must not release output"
                : "no lease: the collector has not renewed it (not connected, or it cannot vouch for this primary)");
    }
}
