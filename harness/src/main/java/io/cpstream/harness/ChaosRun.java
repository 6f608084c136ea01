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
 * A series of {@link ChaosTrial}s and {@link PoolChaosTrial}s ({@code cpstream chaos}): the faults in turn, each trial in a directory of its
 * own (kept under {@code keep}, or a temporary one deleted unless the trial found a violation), and the totals.
 */
public final class ChaosRun {

    /**
     * What a series found: totals over its trials, and each trial's own findings.
     *
     * @param outputStallMillis over the trials that lost a standby and went on: how long output stopped after the fault
     * @param outputQuietAtFaultMillis over the same trials: how long before the fault the last output was released
     * @param reprotectedMillis over the same trials: until another collector committed an epoch of the VM
     */
    public record Summary(int trials, ChaosProtection protection, long violations, long outputsLost, long outputsDuplicated,
                          long digestMismatches, long twoPrimaries, List<Long> outputStallMillis,
                          List<Long> outputQuietAtFaultMillis,
                          List<Long> reprotectedMillis, List<Map<String, Object>> results) {

        /** As {@code cpstream chaos --json} prints it. */
        public Map<String, Object> describe() {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("trials", trials);
            result.put("source", protection.source());
            result.put("protect", protection.mode().name().toLowerCase(java.util.Locale.ROOT));
            result.put("violations", violations);
            result.put("outputs_lost", outputsLost);
            result.put("outputs_duplicated", outputsDuplicated);
            result.put("digest_mismatches", digestMismatches);
            result.put("two_primaries", twoPrimaries);
            if (!outputStallMillis.isEmpty()) {
                result.put("output_stall_ms_p50", percentile(outputStallMillis, 50));
                result.put("output_stall_ms_p99", percentile(outputStallMillis, 99));
                result.put("output_stall_ms_max", percentile(outputStallMillis, 100));
                result.put("output_quiet_at_fault_ms_p50", percentile(outputQuietAtFaultMillis, 50));
                result.put("output_quiet_at_fault_ms_p99", percentile(outputQuietAtFaultMillis, 99));
            }
            if (!reprotectedMillis.isEmpty()) {
                result.put("reprotected_ms_p50", percentile(reprotectedMillis, 50));
                result.put("reprotected_ms_p99", percentile(reprotectedMillis, 99));
                result.put("reprotected_ms_max", percentile(reprotectedMillis, 100));
            }
            result.put("results", results);
            return result;
        }
    }

    /** The nearest-rank percentile {@code p} of {@code values}. */
    static long percentile(List<Long> values, int p) {
        List<Long> sorted = values.stream().sorted().toList();
        int rank = (int) Math.ceil(p / 100.0 * sorted.size());
        return sorted.get(Math.max(0, Math.min(sorted.size(), rank) - 1));
    }

    private ChaosRun() {
    }

    /**
     * Runs {@code trials} trials of {@code protection}'s guest, trial i with fault i modulo the faults and a schedule
     * drawn from {@code seed}. {@code done} sees each trial's outcome as it ends; {@code notes} gets where a failed
     * trial's directory was kept.
     *
     * @param keep where to keep every trial's directory (logs, standbys, released output); null for temporary ones
     */
    public static Summary run(int trials, List<ChaosTrial.Fault> faults, ChaosProtection protection, long seed, Path keep,
                              PrintStream notes, Consumer<ChaosTrial.Outcome> done) throws Exception {
        List<Map<String, Object>> results = new ArrayList<>();
        long violations = 0;
        long lost = 0;
        long duplicated = 0;
        long missing = 0;
        long mismatches = 0;
        long twoPrimaries = 0;
        List<Long> stalls = new ArrayList<>();
        List<Long> quietAtFault = new ArrayList<>();
        List<Long> reprotections = new ArrayList<>();
        for (int i = 0; i < trials; i++) {
            ChaosTrial.Fault fault = faults.get(i % faults.size());
            Path work = keep != null ? Files.createDirectories(keep.resolve("trial-" + i))
                    : Files.createTempDirectory("cpstream-chaos-");
            ChaosTrial.Outcome outcome;
            try {
                long trialSeed = seed * 1_000_003 + i;
                outcome = fault.pool() ? new PoolChaosTrial(i, fault, protection, work, trialSeed).run()
                        : new ChaosTrial(i, fault, protection, work, trialSeed).run();
            } catch (Exception e) {
                // Replication itself broke down (e.g. the collector refused the stream): that is a finding too.
                outcome = ChaosTrial.Outcome.broken(i, fault, "the trial could not complete: " + e.getMessage()
                        + " (logs in " + work + ")");
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
            twoPrimaries += outcome.twoPrimaries();
            if (outcome.outputStallMillis() >= 0) {
                stalls.add(outcome.outputStallMillis());
                quietAtFault.add(outcome.outputQuietAtFaultMillis());
            }
            if (outcome.reprotectedMillis() >= 0) {
                reprotections.add(outcome.reprotectedMillis());
            }
            done.accept(outcome);
            if (keep == null && outcome.violations().isEmpty()) {
                Directories.deleteTree(work);
            }
        }
        return new Summary(trials, protection, violations, lost + missing, duplicated, mismatches, twoPrimaries, stalls,
                quietAtFault, reprotections, results);
    }
}
