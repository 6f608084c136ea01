package io.cpstream.cli;

import io.cpstream.harness.ChaosTrial;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "chaos", mixinStandardHelpOptions = true,
        description = "Break failover on purpose: kill the agent or collector with SIGKILL, cut or slow the link, "
                + "promote, run the promoted VM, and check that no output was lost or released twice.")
final class ChaosCommand implements Callable<Integer> {

    @Option(names = "--trials", defaultValue = "10", description = "How many failovers (default: ${DEFAULT-VALUE})")
    int trials;

    @Option(names = "--source", defaultValue = "sim:mem=8m,rate=20000,outputs=1000",
            description = "Guest to protect; kvm:guest=counter,mem=16m where /dev/kvm exists (default: ${DEFAULT-VALUE})")
    String source;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the fault schedule (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--keep", description = "Keep each trial's directory (logs, standbys, released output) under this path")
    Path keep;

    @Option(names = "--json", description = "Print one JSON object as the last line")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (trials < 1) {
            throw new Errors.UserError("--trials must be at least 1");
        }
        String spec = source.equals("kvm") ? "kvm:guest=counter,mem=16m" : source;
        ChaosTrial.Fault[] faults = ChaosTrial.Fault.values();
        List<Map<String, Object>> results = new ArrayList<>();
        long violations = 0;
        long lost = 0;
        long duplicated = 0;
        long missing = 0;
        long mismatches = 0;
        for (int i = 0; i < trials; i++) {
            ChaosTrial.Fault fault = faults[i % faults.length];
            Path work = keep != null ? Files.createDirectories(keep.resolve("trial-" + i))
                    : Files.createTempDirectory("cpstream-chaos-");
            ChaosTrial.Outcome outcome;
            try {
                outcome = new ChaosTrial(i, fault, spec, work, seed * 1_000_003 + i).run();
            } catch (IllegalStateException e) {
                // Replication itself broke down (e.g. the collector refused the stream): that is a finding too.
                outcome = new ChaosTrial.Outcome(i, fault, 0, 0, 0, 0, 0, 0, 0, false,
                        List.of("the trial could not complete: " + e.getMessage() + " (logs in " + work + ")"));
                if (keep == null) {
                    System.err.println("chaos: keeping " + work + " for inspection");
                }
            }
            results.add(outcome.describe());
            violations += outcome.violations().size();
            lost += outcome.lost();
            duplicated += outcome.duplicated();
            missing += outcome.missing();
            mismatches += outcome.digestMismatch() ? 1 : 0;
            if (!json) {
                System.out.printf("trial %d (%s): promoted epoch %d, %d outputs released before promotion, %d after; %s%n",
                        i, fault.name().toLowerCase(), outcome.promotedEpoch(), outcome.releasedBeforePromotion(),
                        outcome.releasedTotal() - outcome.releasedBeforePromotion(),
                        outcome.violations().isEmpty() ? "ok" : "VIOLATIONS " + outcome.violations());
            } else {
                System.out.printf("trial %d (%s): %s%n", i, fault.name().toLowerCase(),
                        outcome.violations().isEmpty() ? "ok" : outcome.violations());
            }
            if (keep == null && outcome.violations().isEmpty()) {
                deleteTree(work);
            }
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("trials", trials);
        result.put("source", spec);
        result.put("violations", violations);
        result.put("outputs_lost", lost + missing);
        result.put("outputs_duplicated", duplicated);
        result.put("digest_mismatches", mismatches);
        result.put("results", results);
        if (json) {
            Json.print(System.out, result);
        } else {
            System.out.printf("%d trials, %d violations (%d outputs lost, %d duplicated, %d digest mismatches)%n",
                    trials, violations, lost + missing, duplicated, mismatches);
        }
        return violations == 0 ? 0 : 1;
    }

    private static void deleteTree(Path root) throws java.io.IOException {
        try (var walk = Files.walk(root)) {
            for (Path path : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
