package io.cpstream.harness;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.output.OutputReceiver;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.harness.chaos.ChaosPki;
import io.cpstream.harness.chaos.DaemonProcess;
import io.cpstream.harness.chaos.TcpProxy;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmStatus;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
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

    /**
     * What goes wrong. The first four hit one collector and its agent ({@link ChaosTrial}); the others a pool of
     * three collectors on a ZooKeeper ensemble of three ({@link PoolChaosTrial}).
     */
    public enum Fault {
        KILL_AGENT, KILL_COLLECTOR, PARTITION, SLOW_LINK,
        /** The standby's collector dies for good (SIGKILL, no restart): the primary goes on alone, then elsewhere. */
        STANDBY_LOST,
        /** The primary's link to its collector is cut while that side promotes: exactly one of the two wins. */
        PARTITION_PROMOTE,
        /** A member of the ZooKeeper ensemble dies: everything goes on. */
        ZK_MEMBER_LOST;

        public boolean pool() {
            return ordinal() >= STANDBY_LOST.ordinal();
        }

        /** The fault as {@code --faults} names it: {@code standby-lost}. */
        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }

        public static Fault parse(String label) {
            for (Fault fault : values()) {
                if (fault.label().equals(label.strip())) {
                    return fault;
                }
            }
            throw new IllegalArgumentException("unknown fault '" + label + "'; the faults are "
                    + java.util.Arrays.stream(values()).map(Fault::label).toList());
        }
    }

    /**
     * What one trial found.
     *
     * @param outputStallMillis how long the guest's output stopped after the fault (from the fault, not from the last
     *                          release before it); -1 where the fault is no standby loss (or the primary did not go on)
     * @param outputQuietAtFaultMillis how long before the fault the last output had been released; -1 likewise
     * @param reprotectedMillis from the loss of the standby until another collector committed an epoch; -1 likewise
     * @param replayedOutputEnd under record/replay: the output index the promoted VM's replay of its log reaches (the
     *                          checkpoint's is {@code outputEnd}); -1 otherwise
     */
    public record Outcome(int trial, Fault fault, long promotedEpoch, long outputEnd, long releasedBeforePromotion,
                          long releasedTotal, long lost, long duplicated, long missing, boolean digestMismatch,
                          long twoPrimaries, long outputStallMillis, long outputQuietAtFaultMillis,
                          long outputStallBeganMillis, long reprotectedMillis, long replayedOutputEnd,
                          List<String> violations) {

        static Outcome of(int trial, Fault fault, PromoteResponse promoted, ChaosFinale.Checks checks,
                          ReleaseSampler.Stall stall, long reprotectedMillis, List<String> violations) {
            return new Outcome(trial, fault, promoted.getPromotedEpoch(), promoted.getOutputEnd(),
                    checks.releasedBefore(), checks.releasedTotal(), checks.lost(), checks.duplicated(), checks.missing(),
                    checks.digestMismatch(), checks.twoPrimaries(), stall == null ? -1 : stall.afterFaultMillis(),
                    stall == null ? -1 : stall.quietAtFaultMillis(), stall == null ? -1 : stall.beganMillis(),
                    reprotectedMillis, checks.replayedOutputEnd(), List.copyOf(violations));
        }

        /** A trial that could not complete: that is a finding too. */
        static Outcome broken(int trial, Fault fault, String why) {
            return new Outcome(trial, fault, 0, 0, 0, 0, 0, 0, 0, false, 0, -1, -1, -1, -1, -1, List.of(why));
        }

        public Map<String, Object> describe() {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("trial", trial);
            result.put("fault", fault.label());
            result.put("promoted_epoch", promotedEpoch);
            result.put("output_end", outputEnd);
            if (replayedOutputEnd >= 0) {
                result.put("replayed_output_end", replayedOutputEnd);
            }
            result.put("released_before_promotion", releasedBeforePromotion);
            result.put("released_total", releasedTotal);
            if (outputStallMillis >= 0) {
                result.put("output_stall_ms", outputStallMillis);
                result.put("output_quiet_at_fault_ms", outputQuietAtFaultMillis);
                result.put("output_stall_began_ms", outputStallBeganMillis);
            }
            if (reprotectedMillis >= 0) {
                result.put("reprotected_ms", reprotectedMillis);
            }
            result.put("violations", violations);
            return result;
        }
    }

    private static final Duration PATIENCE = Duration.ofSeconds(60);
    private static final Duration LEASE = Duration.ofMillis(1000);

    private final int trial;
    private final Fault fault;
    private final ChaosProtection protection;
    private final Path work;
    private final Random random;
    private final List<String> violations = new ArrayList<>();

    public ChaosTrial(int trial, Fault fault, ChaosProtection protection, Path work, long seed) {
        this.trial = trial;
        this.fault = fault;
        this.protection = protection;
        this.work = work;
        this.random = new Random(seed);
    }

    public Outcome run() throws Exception {
        int collectorPort = freePort();
        Path collectorData = work.resolve("collector-a");
        ChaosPki pki = ChaosPki.issue(work.resolve("pki"), VM);
        List<String> collectorArgs = new ArrayList<>(List.of("collector", "--listen", "127.0.0.1:" + collectorPort,
                "--data-dir", collectorData.toString(), "--metrics-port", "0", "--lease-ms",
                String.valueOf(LEASE.toMillis())));
        collectorArgs.addAll(ChaosPki.flags(pki.collector()));
        try (OutputReceiver receiver = new OutputReceiver("127.0.0.1", 0, work.resolve("released.log"), pki.sink());
             TcpProxy link = new TcpProxy(new InetSocketAddress("127.0.0.1", collectorPort));
             AdminClient admin = new AdminClient("127.0.0.1:" + collectorPort, pki.admin())) {
            DaemonProcess collector = DaemonProcess.start(work.resolve("collector.log"), collectorArgs);
            List<String> agentArgs = new ArrayList<>(List.of("agent",
                    "--collector", "127.0.0.1:" + link.port(), "--vm", VM, "--source", protection.source(), "--metrics-port", "0",
                    "--epoch-ms", "20", "--verify", "--output-sink", "tcp://127.0.0.1:" + receiver.port()));
            agentArgs.addAll(protection.agentFlags(work));
            agentArgs.addAll(ChaosPki.flags(pki.agent()));
            DaemonProcess agent = DaemonProcess.start(work.resolve("agent.log"), agentArgs);
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
                try (CollectorServer standbyOfTheNewPrimary = CollectorServer.start(
                        CollectorConfig.of("127.0.0.1", 0, work.resolve("collector-b")).withLease(LEASE)
                                .withTls(pki.collector()),
                        new SimpleMeterRegistry())) {
                    AgentConfig protect = AgentConfig.of("127.0.0.1:" + standbyOfTheNewPrimary.port(), VM)
                            .withOutputSink("tcp://127.0.0.1:" + receiver.port())
                            .withHeartbeatInterval(Duration.ofMillis(100)).withTls(pki.agent());
                    ChaosFinale.Checks checks = ChaosFinale.finish(promoted, receiver, protect, protection, work, violations);
                    return Outcome.of(trial, fault, promoted, checks, null, -1, violations);
                }
            } finally {
                agent.close();
                collector.close();
            }
        }
    }

    private static long committed(AdminClient admin) {
        VmStatus status = status(admin);
        return status == null ? 0 : status.getCommittedEpoch();
    }

    private static long leaseRemaining(AdminClient admin) {
        VmStatus status = status(admin);
        return status == null ? Long.MAX_VALUE : status.getLeaseRemainingMs();
    }

    private static VmStatus status(AdminClient admin) {
        return ChaosFinale.status(admin);
    }

    private static void awaitCommitted(AdminClient admin, long epoch) throws InterruptedException {
        awaitUntil(() -> committed(admin) >= epoch, "epoch " + epoch + " to be committed");
    }

    private static void awaitUntil(BooleanSupplier condition, String what) throws InterruptedException {
        ChaosFinale.awaitUntil(condition, what);
    }

    private static String lastLines(Path log) {
        return ChaosFinale.lastLines(log);
    }

    private static int freePort() throws IOException {
        return ChaosFinale.freePort();
    }
}
