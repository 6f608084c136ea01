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
import io.cpstream.tracker.kvm.KvLoad;
import io.cpstream.tracker.kvm.KvProtocol;
import io.cpstream.tracker.kvm.KvmSource;
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
import java.util.function.ToLongFunction;

/**
 * How every chaos trial ends and what it checks: the primary is dead and its standby promoted; the promoted VM runs
 * from its snapshot, protected again, releasing to the same sink until it is past the promoted epoch; then the
 * whole released stream is judged. No output released twice, none released and then lost by the failover, none
 * missing, the promoted image the primary's at the promoted epoch, and never two primaries releasing (a write the
 * sink refused as fenced, or an older fencing epoch releasing after a newer one). Under record/replay protection also
 * the promoted VM's memory at the last acknowledged input, and the outputs it replays ({@link ReplayFinale}).
 */
public final class ChaosFinale {

    static final String VM = ChaosTrial.VM;
    static final Duration PATIENCE = Duration.ofSeconds(60);
    /** How long without a released answer means the promoted kv guest answered all it had taken. */
    private static final Duration QUIET = Duration.ofSeconds(1);

    private ChaosFinale() {
    }

    /** What the end of a trial found. */
    record Checks(long releasedBefore, long releasedTotal, long lost, long duplicated, long missing,
                  boolean digestMismatch, long twoPrimaries, long replayedOutputEnd) {
    }

    /**
     * Checks the promotion {@code promoted}, runs the promoted VM under {@code protect} (its fencing epoch is the
     * promotion's) until it released 20 outputs past what the promotion holds, and checks the released stream. Under
     * record/replay {@code protection}, what the promotion holds reaches the last input the standby acknowledged
     * ({@link ReplayFinale}); {@code work} is the trial's directory, where the primary kept the copy of its inputs.
     */
    static Checks finish(PromoteResponse promoted, OutputReceiver receiver, AgentConfig protect,
                         ChaosProtection protection, Path work, List<String> violations) throws Exception {
        List<OutputLog.Record> releasedByOldPrimary = released(receiver);
        long releasedBefore = releasedByOldPrimary.size();
        boolean digestMismatch = promoted.getPrimaryImageSha256().isEmpty()
                || !promoted.getPrimaryImageSha256().equals(promoted.getImageSha256());
        if (digestMismatch) {
            violations.add("promoted image " + ImageDigest.hex(promoted.getImageSha256().toByteArray())
                    + " is not the primary's " + ImageDigest.hex(promoted.getPrimaryImageSha256().toByteArray()));
        }
        long lost;
        long heldEnd;
        long lastRequestId = -1;
        if (protection.logsInputs()) {
            ReplayFinale.Replayed replayed = ReplayFinale.check(promoted, protection, work, releasedByOldPrimary,
                    violations);
            digestMismatch |= replayed.digestMismatch();
            lost = replayed.notReproduced();
            heldEnd = replayed.outputEnd();
            lastRequestId = replayed.lastRequestId();
        } else {
            lost = Math.max(0, releasedBefore - promoted.getOutputEnd());
            if (lost > 0) {
                violations.add(lost + " outputs were released by the old primary beyond the promoted epoch");
            }
            heldEnd = promoted.getOutputEnd();
        }
        long releasedTotal = runPromotedVm(promoted, receiver, protect.withFencingEpoch(promoted.getFencingEpoch()),
                protection, heldEnd, lastRequestId);
        List<OutputLog.Record> records = released(receiver);
        long duplicated = receiver.duplicateAttempts() + repeatedIndexes(records);
        if (duplicated > 0) {
            violations.add(duplicated + " outputs were released twice");
        }
        SequenceCheck sequence = checkSequence(records, heldEnd, protection.logsInputs() ? ChaosFinale::kvAnswerId
                : ChaosFinale::counterValue);
        violations.addAll(sequence.violations());
        long twoPrimaries = twoPrimaries(records, receiver.fencedWrites());
        if (twoPrimaries > 0) {
            violations.add(twoPrimaries + " releases by a primary while another had taken over");
        }
        return new Checks(releasedBefore, releasedTotal, lost, duplicated, sequence.missing(), digestMismatch,
                twoPrimaries, protection.logsInputs() ? heldEnd : -1);
    }

    /**
     * The promoted VM runs from its snapshot, protected as {@code protect} says, until it released 20 outputs past
     * {@code heldEnd}, the end of the outputs the promotion holds. A kv guest's client goes on with it as a client of a
     * failed-over service does: once the answers the promoted VM owes are out, from the request after the last it has
     * (answered, or in its log).
     */
    private static long runPromotedVm(PromoteResponse promoted, OutputReceiver receiver, AgentConfig protect,
                                      ChaosProtection protection, long heldEnd, long lastRequestId) throws Exception {
        try (SnapshotRun run = new SnapshotRun(PromotedSnapshot.open(Path.of(promoted.getSnapshotPath())),
                (epoch, outputs) -> { }, protect, new SimpleMeterRegistry())) {
            run.start();
            KvLoad client = null;
            try {
                if (protection.logsInputs()) {
                    awaitUntil(() -> {
                        run.check();
                        return run.agent().outputReleasedEnd() >= heldEnd;
                    }, "the promoted VM to release the outputs its replay reached (" + heldEnd + ")");
                    long next = 1 + Math.max(lastRequestId, awaitQuietAnswers(receiver));
                    client = new KvLoad((KvmSource) run.guest(), protection.kvLoad(), next, (id, queued) -> { }).start();
                }
                // Past the promoted outputs, so the check sees the new primary's own continue the sequence.
                long target = heldEnd + 20;
                awaitUntil(() -> {
                    run.check();
                    return run.agent().outputReleasedEnd() >= target;
                }, "the promoted VM to release output " + target);
                return released(receiver).size();
            } finally {
                if (client != null) {
                    client.close(); // before the VM it talks to
                }
            }
        }
    }

    /**
     * Waits until no answer was released for a second (the promoted VM answered every request it had taken; with no
     * input it emits nothing more), and returns the id of the last one released, or -1.
     */
    private static long awaitQuietAnswers(OutputReceiver receiver) throws Exception {
        long[] seen = {-1, System.nanoTime()};
        awaitUntil(() -> {
            long count = receiver.acceptedRecords();
            if (count != seen[0]) {
                seen[0] = count;
                seen[1] = System.nanoTime();
            }
            return System.nanoTime() - seen[1] > QUIET.toNanos();
        }, "the promoted VM's answers to stop");
        List<OutputLog.Record> records = released(receiver);
        return records.isEmpty() ? -1 : kvAnswerId(records.getLast().payload());
    }

    static List<OutputLog.Record> released(OutputReceiver receiver) throws IOException {
        return OutputLog.read(receiver.file(), VM);
    }

    /** What {@link #checkSequence} found: how many outputs are missing, and what is wrong, one line each. */
    record SequenceCheck(long missing, List<String> violations) {
    }

    /** {@link #checkSequence(List, long, ToLongFunction)} of the counter guest's outputs. */
    static SequenceCheck checkSequence(List<OutputLog.Record> records, long outputEnd) {
        return checkSequence(records, outputEnd, ChaosFinale::counterValue);
    }

    /** The counter guest's output: its counter, a little-endian 64-bit value. */
    static long counterValue(byte[] payload) {
        return ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    /** The kv guest's output: the id of the request it answers. */
    static long kvAnswerId(byte[] payload) {
        return KvProtocol.Response.decode(payload).id();
    }

    /**
     * The released stream must be outputs 0, 1, 2, ... with no hole, each the successor of the one before by
     * {@code value} (the counter guest's counter, the id of the kv request answered), across the failover, and hold
     * every output the promotion holds: each below {@code outputEnd}, the index of the first it does not.
     */
    static SequenceCheck checkSequence(List<OutputLog.Record> records, long outputEnd, ToLongFunction<byte[]> value) {
        List<String> violations = new ArrayList<>();
        long missing = 0;
        Long previousValue = null;
        long expectedIndex = 0;
        for (OutputLog.Record record : records) {
            if (record.index() != expectedIndex) {
                missing += Math.max(0, record.index() - expectedIndex);
                violations.add("output " + expectedIndex + " is missing (next released is " + record.index() + ")");
            }
            long current = value.applyAsLong(record.payload());
            if (previousValue != null && current != previousValue + 1) {
                violations.add("output " + record.index() + " is " + current + ", not the successor of " + previousValue);
            }
            previousValue = current;
            expectedIndex = record.index() + 1;
        }
        // outputEnd is exclusive: the promotion holds outputs [0, outputEnd).
        if (expectedIndex < outputEnd) {
            missing += outputEnd - expectedIndex;
            violations.add("outputs " + expectedIndex + " to " + (outputEnd - 1) + " of the promotion were never "
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
