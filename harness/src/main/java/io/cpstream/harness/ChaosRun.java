package io.cpstream.harness;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A series of {@link ChaosTrial}s ({@code cpstream chaos}): the faults in turn, each trial in a directory of its
 * own (kept under {@code keep}, or a temporary one deleted unless the trial found a violation), and the totals.
 */
public final class ChaosRun {

    /** What a series found: totals over its trials, and each trial's own findings. */
    public record Summary(int trials, String source, long violations, long outputsLost, long outputsDuplicated,
                          long digestMismatches, List<Map<String, Object>> results) {

        /** As {@code cpstream chaos --json} prints it. */
        public Map<String, Object> describe() {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("trials", trials);
            result.put("source", source);
            result.put("violations", violations);
            result.put("outputs_lost", outputsLost);
            result.put("outputs_duplicated", outputsDuplicated);
            result.put("digest_mismatches", digestMismatches);
            result.put("results", results);
            return result;
        }
    }

    private ChaosRun() {
    }

    /**
     * Runs {@code trials} trials of {@code source}, trial i with fault i modulo the faults and a schedule drawn
     * from {@code seed}. {@code done} sees each trial's outcome as it ends; {@code notes} gets where a failed
     * trial's directory was kept.
     *
     * @param keep where to keep every trial's directory (logs, standbys, released output); null for temporary ones
     */
    public static Summary run(int trials, String source, long seed, Path keep, PrintStream notes,
                              Consumer<ChaosTrial.Outcome> done) throws Exception {
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
                outcome = new ChaosTrial(i, fault, source, work, seed * 1_000_003 + i).run();
            } catch (IllegalStateException e) {
                // Replication itself broke down (e.g. the collector refused the stream): that is a finding too.
                outcome = new ChaosTrial.Outcome(i, fault, 0, 0, 0, 0, 0, 0, 0, false,
                        List.of("the trial could not complete: " + e.getMessage() + " (logs in " + work + ")"));
                if (keep == null) {
                    notes.println("chaos: keeping " + work + " for inspection");
                }
            }
            results.add(outcome.describe());
            violations += outcome.violations().size();
            lost += outcome.lost();
            duplicated += outcome.duplicated();
            missing += outcome.missing();
            mismatches += outcome.digestMismatch() ? 1 : 0;
            done.accept(outcome);
            if (keep == null && outcome.violations().isEmpty()) {
                Directories.deleteTree(work);
            }
        }
        return new Summary(trials, source, violations, lost + missing, duplicated, mismatches, results);
    }
}
