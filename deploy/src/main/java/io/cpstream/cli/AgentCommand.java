package io.cpstream.cli;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentStats;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "agent", mixinStandardHelpOptions = true,
        description = "Run the checkpoint agent: protects one guest by streaming its checkpoints to a collector.")
final class AgentCommand implements Callable<Integer> {

    @Option(names = "--collector", required = true, description = "HOST:PORT of the collector")
    String collector;

    @Option(names = "--vm", required = true, description = "Name of this VM on the collector")
    String vm;

    @Option(names = "--source", defaultValue = MemorySources.DEFAULT_SPEC,
            description = "What to protect, e.g. sim:mem=64m,workload=zipf (default: ${DEFAULT-VALUE})")
    String source;

    @Option(names = "--metrics-port", defaultValue = "9464", description = "Port for /metrics and /health; 0 turns it off (default: ${DEFAULT-VALUE})")
    int metricsPort;

    @Option(names = "--epoch-ms", defaultValue = "10", description = "Target time between checkpoints (default: ${DEFAULT-VALUE})")
    long epochMillis;

    @Option(names = "--fencing-epoch", defaultValue = "0", description = "Fencing epoch to present to the collector")
    long fencingEpoch;

    @Option(names = "--verify", description = "Have the collector check its image against the guest's SHA-256 at every epoch (slow)")
    boolean verify;

    @Option(names = "--output-sink", defaultValue = "none",
            description = "Where committed guest output is released: none, file:PATH or tcp://HOST:PORT (default: ${DEFAULT-VALUE})")
    String outputSink;

    @Option(names = "--max-pending-output", defaultValue = "1048576",
            description = "Bytes of guest output held until committed, at most; beyond it the guest waits (default: ${DEFAULT-VALUE})")
    long maxPendingOutput;

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
        String target = HostPort.parse(collector, "--collector").target();
        AgentConfig config = AgentConfig.of(target, vm).withEpochInterval(Duration.ofMillis(epochMillis))
                .withFencingEpoch(fencingEpoch).withVerify(verify).withOutputSink(outputSink)
                .withMaxPendingOutputBytes(maxPendingOutput).withStun(stunConfig(split, maxStunMillis, maxMbps));
        try (MemorySource guest = MemorySources.open(source)) {
            Agent[] holder = new Agent[1];
            try (MetricsEndpoint metrics = new MetricsEndpoint(metricsPort,
                    () -> holder[0] != null && holder[0].connected() ? null : "not connected to the collector");
                 Agent agent = new Agent(config, guest, metrics.registry())) {
                holder[0] = agent;
                Runtime.getRuntime().addShutdownHook(new Thread(agent::close, "agent-shutdown"));
                agent.start();
                System.out.printf("cpstream agent protecting %s (%s, %d MiB) via %s, metrics on :%d%n", vm, source,
                        guest.memoryBytes() >> 20, target, metrics.port());
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
        }
        return 0;
    }
}
