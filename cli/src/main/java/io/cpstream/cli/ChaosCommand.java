package io.cpstream.cli;

import io.cpstream.agent.ProtectionMode;
import io.cpstream.config.Parsers;
import io.cpstream.harness.ChaosProtection;
import io.cpstream.harness.ChaosRun;
import io.cpstream.harness.ChaosTrial;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Failovers under faults: {@link ChaosRun}'s trials, printed one line each and summed up. */
@Command(name = "chaos", mixinStandardHelpOptions = true,
        description = "Break failover on purpose: kill the agent or collector with SIGKILL, cut or slow the link, "
                + "promote, run the promoted VM, and check that no output was lost or released twice.")
final class ChaosCommand implements Callable<Integer> {

    @Option(names = "--trials", defaultValue = "10", description = "How many failovers (default: ${DEFAULT-VALUE})")
    int trials;

    @Option(names = "--source", defaultValue = "sim:mem=8m,rate=20000,outputs=1000",
            description = "Guest to protect; kvm:guest=counter,mem=16m where /dev/kvm exists, emu:guest=counter,mem=16m "
                    + "anywhere ('kvm' and 'emu' alone mean those) (default: ${DEFAULT-VALUE})")
    String source;

    @Option(names = "--protect", defaultValue = "checkpoint", paramLabel = "MODE",
            description = "checkpoint, or replay: the primary streams its inputs (an emu kv guest, with a client sending "
                    + "requests: load=200 unless the source says), and the promoted VM must replay to exactly the "
                    + "primary's memory at the last acknowledged input (default: ${DEFAULT-VALUE})")
    String protect;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the fault schedule (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--faults", split = ",", paramLabel = "FAULT",
            description = "Faults to take in turn: kill-agent, kill-collector, partition, slow-link (one collector), "
                    + "standby-lost, partition-promote, zk-member-lost (a pool of three collectors on a ZooKeeper "
                    + "ensemble of three, all started here) (default: the first four)")
    List<String> faults;

    @Option(names = "--keep", description = "Keep each trial's directory (logs, standbys, released output) under this path")
    Path keep;

    @Option(names = "--json", description = "Print one JSON object as the last line")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (trials < 1) {
            throw new Errors.UserError("--trials must be at least 1");
        }
        ChaosProtection protection;
        try {
            protection = ChaosProtection.of(DemoCommand.expandSource(source),
                    Parsers.choice(ProtectionMode.class, "a protection").apply(protect));
        } catch (IllegalArgumentException e) {
            throw new Errors.UserError(e.getMessage());
        }
        List<ChaosTrial.Fault> chosen = faults == null
                ? List.of(ChaosTrial.Fault.KILL_AGENT, ChaosTrial.Fault.KILL_COLLECTOR, ChaosTrial.Fault.PARTITION,
                        ChaosTrial.Fault.SLOW_LINK)
                : faults.stream().map(ChaosTrial.Fault::parse).toList();
        ChaosRun.Summary summary = ChaosRun.run(trials, chosen, protection, seed, keep, System.err, this::print);
        if (json) {
            Json.print(System.out, summary.describe());
        } else {
            System.out.printf("%d trials, %d violations (%d outputs lost, %d duplicated, %d digest mismatches, %d "
                    + "moments with two primaries)%n", trials, summary.violations(), summary.outputsLost(),
                    summary.outputsDuplicated(), summary.digestMismatches(), summary.twoPrimaries());
        }
        return summary.violations() == 0 ? 0 : 1;
    }

    private void print(ChaosTrial.Outcome outcome) {
        String fault = outcome.fault().label();
        if (!json) {
            System.out.printf("trial %d (%s): promoted epoch %d, %d outputs released before promotion, %d after; %s%n",
                    outcome.trial(), fault, outcome.promotedEpoch(), outcome.releasedBeforePromotion(),
                    outcome.releasedTotal() - outcome.releasedBeforePromotion(),
                    outcome.violations().isEmpty() ? "ok" : "VIOLATIONS " + outcome.violations());
        } else {
            System.out.printf("trial %d (%s): %s%n", outcome.trial(), fault,
                    outcome.violations().isEmpty() ? "ok" : outcome.violations());
        }
    }
}
