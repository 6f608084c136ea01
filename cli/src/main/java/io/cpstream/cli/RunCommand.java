package io.cpstream.cli;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentKeys;
import io.cpstream.agent.SnapshotRun;
import io.cpstream.config.ConfigKey;
import io.cpstream.config.HostPort;
import io.cpstream.harness.ObservedOutputs;
import io.cpstream.snapshot.PromotedSnapshot;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Brings a promoted VM back to life from its snapshot and runs it: the promoted epoch's memory and
 * device state in a new guest (a new KVM VM for {@code kvm}, a new emulated one for {@code emu}), resumed where
 * the primary was stunned.
 * With {@code --collector} the restored VM is protected again by an agent of its own.
 */
@Command(name = "run", mixinStandardHelpOptions = true, modelTransformer = KeyedOptions.class,
        description = "Run a VM from a promoted snapshot, printing its outputs; with --collector, protect it again.")
final class RunCommand implements Callable<Integer>, KeyedOptions.Keyed {

    @Option(names = "--snapshot", required = true,
            description = "Snapshot directory written by promote: <data-dir>/vms/<vm>/snapshots/epoch-<N>")
    Path snapshotDir;

    @Option(names = "--seconds", defaultValue = "0", description = "Run this long, then stop (default: until interrupted)")
    int seconds;

    @Option(names = "--collector", description = "HOST:PORT of a collector to protect the restored VM with")
    String collector;

    @Option(names = "--vm", description = "Name of the restored VM on that collector (a promoted name is not reused)")
    String vm;

    @Option(names = "--fencing-epoch", description = "Fencing epoch to present (default: the snapshot's)")
    Long fencingEpoch;

    // The agent's settings (AgentKeys) that protect the restored VM: default and doc from the key.
    @Option(names = "--epoch-ms")
    long epochMillis;

    @Option(names = "--verify")
    boolean verify;

    @Option(names = "--output-sink", description = "with --collector only")
    String outputSink;

    @picocli.CommandLine.Mixin
    TlsOptions tls;

    @Option(names = "--quiet", description = "Do not print every output, only a line a second")
    boolean quiet;

    @Option(names = "--json", description = "Print one JSON object as the last line (implies --quiet)")
    boolean json;

    @Override
    public List<ConfigKey<?>> keys() {
        return List.of(AgentKeys.EPOCH_MS, AgentKeys.VERIFY, AgentKeys.OUTPUT_SINK);
    }

    @Override
    public Integer call() throws Exception {
        if (seconds < 0) {
            throw new Errors.UserError("--seconds must be 0 (until interrupted) or more");
        }
        if ((collector == null) != (vm == null)) {
            throw new Errors.UserError("--collector and --vm go together: the restored VM is protected as --vm on --collector");
        }
        if (collector == null && !outputSink.equals(AgentKeys.OUTPUT_SINK.defaultValue())) {
            throw new Errors.UserError("--output-sink needs --collector: output is released once the collector commits it");
        }
        PromotedSnapshot snapshot = PromotedSnapshot.open(snapshotDir);
        AgentConfig protect = null;
        if (collector != null) {
            protect = AgentConfig.of(HostPort.parse(collector, "--collector").target(), vm)
                    .withFencingEpoch(fencingEpoch == null ? snapshot.manifest().fencingEpoch() : fencingEpoch)
                    .withEpochInterval(Duration.ofMillis(epochMillis)).withVerify(verify).withOutputSink(outputSink)
                    .withTls(tls.settings());
        }
        boolean printEach = !quiet && !json;
        ObservedOutputs outputs = new ObservedOutputs(printEach ? System.out : null);
        try (SnapshotRun run = new SnapshotRun(snapshot, outputs, protect, new SimpleMeterRegistry())) {
            if (seconds == 0) {
                Runtime.getRuntime().addShutdownHook(new Thread(run::close, "run-shutdown"));
            }
            if (!json) {
                System.out.printf("cpstream run: %s (vm %s, epoch %d, %s)%s%n", snapshotDir, snapshot.manifest().vm(),
                        snapshot.manifest().epoch(), snapshot.spec(),
                        protect == null ? "" : ", protected as " + vm + " via " + protect.collector());
            }
            run.start();
            long started = System.nanoTime();
            long end = seconds == 0 ? Long.MAX_VALUE : started + Duration.ofSeconds(seconds).toNanos();
            long nextLine = started + 1_000_000_000L;
            while (System.nanoTime() < end) {
                Thread.sleep(Math.max(1, Math.min(20, (end - System.nanoTime()) / 1_000_000)));
                run.check();
                if (!json && quiet && System.nanoTime() >= nextLine) {
                    nextLine += 1_000_000_000L;
                    System.out.printf("%5.1fs  %d outputs, last %s%s%n", (System.nanoTime() - started) / 1e9,
                            outputs.count(), describe(outputs.last()), progress(run.agent()));
                }
            }
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("snapshot", snapshotDir.toString());
            result.put("vm", snapshot.manifest().vm());
            result.put("source", snapshot.spec().toString());
            result.put("restored_epoch", snapshot.manifest().epoch());
            result.put("seconds", seconds);
            result.put("outputs", outputs.count());
            result.put("first_output", ObservedOutputs.describe(outputs.first()));
            result.put("last_output", ObservedOutputs.describe(outputs.last()));
            if (run.agent() != null) {
                result.put("protected_as", vm);
                result.put("collector", protect.collector());
                result.put("acked_epoch", run.agent().acknowledgedEpoch());
                result.put("outputs_released", run.agent().outputsReleased());
            }
            if (json) {
                Json.print(System.out, result);
            } else {
                System.out.printf("ran %d s: %d outputs, first %s, last %s%n", seconds, outputs.count(),
                        describe(outputs.first()), describe(outputs.last()));
            }
        }
        return 0;
    }

    private static String describe(io.cpstream.tracker.GuestOutput output) {
        return output == null ? "none" : "#" + output.index() + " = " + ObservedOutputs.render(output);
    }

    private static String progress(Agent agent) {
        return agent == null ? "" : String.format(", epoch %d acked", agent.acknowledgedEpoch());
    }
}
