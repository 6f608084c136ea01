package io.cpstream.harness;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.SnapshotRun;
import io.cpstream.agent.output.OutputLog;
import io.cpstream.agent.output.OutputReceiver;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.harness.chaos.DaemonProcess;
import io.cpstream.harness.chaos.TcpProxy;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmStatus;
import io.cpstream.snapshot.PromotedSnapshot;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.BooleanSupplier;

/**
 * One failover, broken on purpose. A collector and an agent run as processes of their own; the agent
 * reaches the collector through a {@link TcpProxy} and releases its guest's output to an
 * {@link OutputReceiver} that records everything. The trial injects one fault at a random moment
 * (SIGKILL of the agent or the collector, a network partition, a slow link), then the primary dies,
 * the operator promotes with the safe default (waiting out the lease), and the promoted VM runs from
 * its snapshot, protected by a second collector and releasing to the same receiver. Then it checks:
 * no output released twice, none released and then lost by the failover, none missing, and the
 * promoted image equal to the primary's at the promoted epoch.
 */
public final class ChaosTrial {

    public static final String VM = "chaos";

    public enum Fault { KILL_AGENT, KILL_COLLECTOR, PARTITION, SLOW_LINK }

    /** What one trial found. */
    public record Outcome(int trial, Fault fault, long promotedEpoch, long outputEnd, long releasedBeforePromotion,
                   long releasedTotal, long lost, long duplicated, long missing, boolean digestMismatch,
                   List<String> violations) {

        public Map<String, Object> describe() {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("trial", trial);
            result.put("fault", fault.name().toLowerCase());
            result.put("promoted_epoch", promotedEpoch);
            result.put("output_end", outputEnd);
            result.put("released_before_promotion", releasedBeforePromotion);
            result.put("released_total", releasedTotal);
            result.put("violations", violations);
            return result;
        }
    }

    private static final Duration PATIENCE = Duration.ofSeconds(60);
    private static final Duration LEASE = Duration.ofMillis(1000);

    private final int trial;
    private final Fault fault;
    private final String source;
    private final Path work;
    private final Random random;
    private final List<String> violations = new ArrayList<>();

    public ChaosTrial(int trial, Fault fault, String source, Path work, long seed) {
        this.trial = trial;
        this.fault = fault;
        this.source = source;
        this.work = work;
        this.random = new Random(seed);
    }

    public Outcome run() throws Exception {
        int collectorPort = freePort();
        Path collectorData = work.resolve("collector-a");
        List<String> collectorArgs = List.of("collector", "--listen", "127.0.0.1:" + collectorPort, "--data-dir",
                collectorData.toString(), "--metrics-port", "0", "--lease-ms", String.valueOf(LEASE.toMillis()));
        try (OutputReceiver receiver = new OutputReceiver("127.0.0.1", 0, work.resolve("released.log"));
             TcpProxy link = new TcpProxy(new InetSocketAddress("127.0.0.1", collectorPort));
             AdminClient admin = new AdminClient("127.0.0.1:" + collectorPort)) {
            DaemonProcess collector = DaemonProcess.start(work.resolve("collector.log"), collectorArgs);
            DaemonProcess agent = DaemonProcess.start(work.resolve("agent.log"), List.of("agent",
                    "--collector", "127.0.0.1:" + link.port(), "--vm", VM, "--source", source, "--metrics-port", "0",
                    "--epoch-ms", "20", "--verify", "--output-sink", "tcp://127.0.0.1:" + receiver.port()));
            try {
                DaemonProcess primary = agent;
                awaitUntil(() -> {
                    if (!primary.alive()) {
                        throw new IllegalStateException("the agent stopped by itself: " + lastLines(primary.log()));
                    }
                    return committed(admin) >= 5;
                }, "epoch 5 to be committed");
                Thread.sleep(random.nextInt(1500));
                switch (fault) {
                    case KILL_AGENT -> agent.kill9();
                    case KILL_COLLECTOR -> {
                        collector.kill9();
                        Thread.sleep(random.nextInt(500));
                        collector = DaemonProcess.start(work.resolve("collector.log"), collectorArgs);
                        awaitCommitted(admin, committed(admin) + 5);
                    }
                    case PARTITION -> {
                        link.cut();
                        Thread.sleep(200 + random.nextInt(1500));
                        link.heal();
                        awaitCommitted(admin, committed(admin) + 5);
                    }
                    case SLOW_LINK -> {
                        link.delay(5 + random.nextInt(45));
                        Thread.sleep(500 + random.nextInt(1000));
                        link.delay(0);
                    }
                }
                // The primary's host dies now (if the fault did not kill it already).
                Thread.sleep(random.nextInt(300));
                agent.kill9();
                // The operator promotes with the safe default: refused while the dead primary's lease runs.
                awaitUntil(() -> leaseRemaining(admin) == 0, "the dead primary's lease to run out");
                PromoteResponse promoted = admin.promote(VM, false);
                long releasedBefore = OutputLog.read(receiver.file(), VM).size();
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
                long releasedTotal = runPromotedVm(promoted, receiver);
                List<OutputLog.Record> records = OutputLog.read(receiver.file(), VM);
                long duplicated = receiver.duplicateAttempts() + repeatedIndexes(records);
                if (duplicated > 0) {
                    violations.add(duplicated + " outputs were released twice");
                }
                SequenceCheck sequence = checkSequence(records, promoted.getOutputEnd());
                violations.addAll(sequence.violations());
                long missing = sequence.missing();
                return new Outcome(trial, fault, promoted.getPromotedEpoch(), promoted.getOutputEnd(), releasedBefore,
                        releasedTotal, lost, duplicated, missing, digestMismatch, List.copyOf(violations));
            } finally {
                agent.close();
                collector.close();
            }
        }
    }

    /** The promoted VM runs from its snapshot, protected by another collector, until it released past the failover. */
    private long runPromotedVm(PromoteResponse promoted, OutputReceiver receiver) throws Exception {
        try (CollectorServer standbyOfTheNewPrimary = CollectorServer.start(
                CollectorConfig.of("127.0.0.1", 0, work.resolve("collector-b")).withLease(LEASE),
                new SimpleMeterRegistry())) {
            AgentConfig protect = AgentConfig.of("127.0.0.1:" + standbyOfTheNewPrimary.port(), VM)
                    .withFencingEpoch(promoted.getFencingEpoch())
                    .withOutputSink("tcp://127.0.0.1:" + receiver.port())
                    .withHeartbeatInterval(Duration.ofMillis(100));
            try (SnapshotRun run = new SnapshotRun(PromotedSnapshot.open(Path.of(promoted.getSnapshotPath())), (epoch, outputs) -> { },
                    protect, new SimpleMeterRegistry())) {
                run.start();
                // Past the promoted epoch's outputs, so the check sees the new primary's own continue the counter.
                long target = promoted.getOutputEnd() + 20;
                awaitUntil(() -> {
                    run.check();
                    return run.agent().outputReleasedEnd() >= target;
                }, "the promoted VM to release output " + target);
                return OutputLog.read(receiver.file(), VM).size();
            }
        }
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

    private static String lastLines(Path log) {
        try {
            List<String> lines = java.nio.file.Files.readAllLines(log);
            return String.join(" | ", lines.subList(Math.max(0, lines.size() - 3), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private static long repeatedIndexes(List<OutputLog.Record> records) {
        Set<Long> seen = new HashSet<>();
        return records.stream().filter(r -> !seen.add(r.index())).count();
    }

    private static long committed(AdminClient admin) {
        VmStatus status = status(admin);
        return status == null ? 0 : status.getCommittedEpoch();
    }

    private static long leaseRemaining(AdminClient admin) {
        VmStatus status = status(admin);
        return status == null ? Long.MAX_VALUE : status.getLeaseRemainingMs();
    }

    /** The VM's status, or null while the collector does not know it or is (re)starting. */
    private static VmStatus status(AdminClient admin) {
        try {
            return admin.get(VM);
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static void awaitCommitted(AdminClient admin, long epoch) throws InterruptedException {
        awaitUntil(() -> committed(admin) >= epoch, "epoch " + epoch + " to be committed");
    }

    private static void awaitUntil(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("chaos: gave up waiting for " + what + " after " + PATIENCE.toSeconds() + " s");
            }
            Thread.sleep(50);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
