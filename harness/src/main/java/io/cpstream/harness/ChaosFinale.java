package io.cpstream.harness;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.SnapshotRun;
import io.cpstream.agent.output.OutputLog;
import io.cpstream.agent.output.OutputReceiver;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmStatus;
import io.cpstream.snapshot.PromotedSnapshot;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.BooleanSupplier;

/**
 * How every chaos trial ends and what it checks: the primary is dead and its standby promoted; the promoted VM runs
 * from its snapshot, protected again, releasing to the same sink until it is past the promoted epoch; then the
 * whole released stream is judged. No output released twice, none released and then lost by the failover, none
 * missing, the promoted image the primary's at the promoted epoch, and never two primaries releasing (a write the
 * sink refused as fenced, or an older fencing epoch releasing after a newer one).
 */
public final class ChaosFinale {

    static final String VM = ChaosTrial.VM;
    static final Duration PATIENCE = Duration.ofSeconds(60);

    private ChaosFinale() {
    }

    /** What the end of a trial found. */
    record Checks(long releasedBefore, long releasedTotal, long lost, long duplicated, long missing,
                  boolean digestMismatch, long twoPrimaries) {
    }

    /**
     * Checks the promotion {@code promoted}, runs the promoted VM under {@code protect} (its fencing epoch is the
     * promotion's) until it released 20 outputs past the promoted epoch, and checks the released stream.
     */
    static Checks finish(PromoteResponse promoted, OutputReceiver receiver, AgentConfig protect, List<String> violations)
            throws Exception {
        long releasedBefore = released(receiver).size();
        boolean digestMismatch = promoted.getPrimaryImageSha256().isEmpty()
                || !promoted.getPrimaryImageSha256().equals(promoted.getImageSha256());
        if (digestMismatch) {
            violations.add("promoted image " + ImageDigest.hex(promoted.getImageSha256().toByteArray())
                    + " is not the primary's " + ImageDigest.hex(promoted.getPrimaryImageSha256().toByteArray()));
        }
        long lost = Math.max(0, releasedBefore - promoted.getOutputEnd());
        if (lost > 0) {
            violations.add(lost + " outputs were released by the old primary beyond the promoted epoch");
        }
        long releasedTotal = runPromotedVm(promoted, receiver, protect.withFencingEpoch(promoted.getFencingEpoch()));
        List<OutputLog.Record> records = released(receiver);
        long duplicated = receiver.duplicateAttempts() + repeatedIndexes(records);
        if (duplicated > 0) {
            violations.add(duplicated + " outputs were released twice");
        }
        SequenceCheck sequence = checkSequence(records, promoted.getOutputEnd());
        violations.addAll(sequence.violations());
        long twoPrimaries = twoPrimaries(records, receiver.fencedWrites());
        if (twoPrimaries > 0) {
            violations.add(twoPrimaries + " releases by a primary while another had taken over");
        }
        return new Checks(releasedBefore, releasedTotal, lost, duplicated, sequence.missing(), digestMismatch,
                twoPrimaries);
    }

    /** The promoted VM runs from its snapshot, protected as {@code protect} says, until it released past the failover. */
    private static long runPromotedVm(PromoteResponse promoted, OutputReceiver receiver, AgentConfig protect)
            throws Exception {
        try (SnapshotRun run = new SnapshotRun(PromotedSnapshot.open(Path.of(promoted.getSnapshotPath())),
                (epoch, outputs) -> { }, protect, new SimpleMeterRegistry())) {
            run.start();
            // Past the promoted epoch's outputs, so the check sees the new primary's own continue the counter.
            long target = promoted.getOutputEnd() + 20;
            awaitUntil(() -> {
                run.check();
                return run.agent().outputReleasedEnd() >= target;
            }, "the promoted VM to release output " + target);
            return released(receiver).size();
        }
    }

    static List<OutputLog.Record> released(OutputReceiver receiver) throws IOException {
        return OutputLog.read(receiver.file(), VM);
    }

    /** What {@link #checkSequence} found: how many outputs are missing, and what is wrong, one line each. */
    record SequenceCheck(long missing, List<String> violations) {
    }

    /**
     * The released stream must be outputs 0, 1, 2, ... with no hole, each the successor of the one
     * before (the guest's counter), across the failover, and hold every output of the promoted epoch:
     * each below {@code outputEnd}, the index of the first output that epoch does not hold.
     */
    static SequenceCheck checkSequence(List<OutputLog.Record> records, long outputEnd) {
        List<String> violations = new ArrayList<>();
        long missing = 0;
        Long previousValue = null;
        long expectedIndex = 0;
        for (OutputLog.Record record : records) {
            if (record.index() != expectedIndex) {
                missing += Math.max(0, record.index() - expectedIndex);
                violations.add("output " + expectedIndex + " is missing (next released is " + record.index() + ")");
            }
            long value = ByteBuffer.wrap(record.payload()).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (previousValue != null && value != previousValue + 1) {
                violations.add("output " + record.index() + " is " + value + ", not the successor of " + previousValue);
            }
            previousValue = value;
            expectedIndex = record.index() + 1;
        }
        // outputEnd is exclusive: the promoted epoch holds outputs [0, outputEnd).
        if (expectedIndex < outputEnd) {
            missing += outputEnd - expectedIndex;
            violations.add("outputs " + expectedIndex + " to " + (outputEnd - 1) + " of the promoted epoch were never "
                    + "released");
        }
        return new SequenceCheck(missing, List.copyOf(violations));
    }

    /**
     * Moments with two primaries the sink saw: writes it refused because a primary of a higher fencing epoch had
     * taken over, and records released at a lower fencing epoch than one released before them.
     */
    static long twoPrimaries(List<OutputLog.Record> records, long fencedWrites) {
        long regressions = 0;
        long highest = Long.MIN_VALUE;
        for (OutputLog.Record record : records) {
            if (record.fencingEpoch() < highest) {
                regressions++;
            }
            highest = Math.max(highest, record.fencingEpoch());
        }
        return regressions + fencedWrites;
    }

    private static long repeatedIndexes(List<OutputLog.Record> records) {
        Set<Long> seen = new HashSet<>();
        return records.stream().filter(r -> !seen.add(r.index())).count();
    }

    /** The VM's status on {@code admin}'s collector, or null while it does not know the VM or is unreachable. */
    static VmStatus status(AdminClient admin) {
        try {
            return admin.get(VM);
        } catch (RuntimeException e) {
            return null;
        }
    }

    static void awaitUntil(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("chaos: gave up waiting for " + what + " after " + PATIENCE.toSeconds()
                        + " s");
            }
            Thread.sleep(20);
        }
    }

    /**
     * The last lines a daemon of ours wrote itself: a stopping daemon's ZooKeeper client logs its own shutdown last,
     * which would hide why it stopped (a trial reports this when a daemon ends unasked, and its directory is gone).
     */
    static String lastLines(Path log) {
        try {
            List<String> lines = java.nio.file.Files.readAllLines(log).stream()
                    .filter(line -> !line.contains("org.apache.zookeeper") && !line.contains("org.apache.curator"))
                    .toList();
            return String.join(" | ", lines.subList(Math.max(0, lines.size() - 6), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** A TCP port free on this machine now, for a daemon started next to listen on (chaos trials, bench --vms). */
    public static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
