package io.cpstream.harness;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.FailoverConfig;
import io.cpstream.agent.output.OutputReceiver;
import io.cpstream.agent.output.ZooKeeperFencing;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.coordination.CollectorPool;
import io.cpstream.coordination.CoordinationException;
import io.cpstream.coordination.Coordinator;
import io.cpstream.harness.chaos.ChaosPki;
import io.cpstream.harness.chaos.DaemonProcess;
import io.cpstream.harness.chaos.MetricsReader;
import io.cpstream.harness.chaos.TcpProxy;
import io.cpstream.harness.chaos.ZooKeeperEnsemble;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmState;
import io.cpstream.proto.VmStatus;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;

/**
 * One fault of a pool, broken on purpose: a ZooKeeper ensemble of three, three collectors in the pool (each a process,
 * each reached by agents through a {@link TcpProxy}, each standing for a host of its own), and an agent placed on one
 * of them, releasing its guest's output to an {@link OutputReceiver}. The fault: the standby's collector dies for
 * good; or the primary's link to it is cut while that side promotes the VM; or a ZooKeeper member dies. While the
 * trial runs, a sampler watches the released stream: how long output stopped, and how long until another collector
 * holds a committed epoch of the VM. Then the primary dies, its standby is promoted, and {@link ChaosFinale} runs the
 * promoted VM and judges the whole stream.
 */
final class PoolChaosTrial {

    private static final Duration LEASE = Duration.ofMillis(1000);
    /** Two leases: what the agent waits without a standby before it goes on alone. */
    private static final Duration STANDBY_TIMEOUT = LEASE.multipliedBy(2);
    private static final int COLLECTORS = 3;
    /**
     * The primary and the collectors run as deployed (the launcher's compiler and collector flags, their default
     * heaps faulted in at start): how long the guest's output stops depends on how fast the primary checkpoints,
     * and how soon it is protected again on how fast a collector takes a full sync.
     */
    private static final List<String> AGENT_JVM = DaemonProcess.deployedFlags("256m");
    private static final List<String> COLLECTOR_JVM = DaemonProcess.deployedFlags("1g");

    private final int trial;
    private final ChaosTrial.Fault fault;
    private final ChaosProtection protection;
    private final Path work;
    private final Random random;
    private final List<String> violations = new ArrayList<>();

    PoolChaosTrial(int trial, ChaosTrial.Fault fault, ChaosProtection protection, Path work, long seed) {
        this.trial = trial;
        this.fault = fault;
        this.protection = protection;
        this.work = work;
        this.random = new Random(seed);
    }

    /** One collector of the pool: the process, the proxy agents reach it through, its admin API. */
    private record Member(int index, DaemonProcess process, TcpProxy link, AdminClient admin) implements AutoCloseable {
        String address() {
            return "127.0.0.1:" + link.port();
        }

        /** The VM's status here, or null. */
        VmStatus vm() {
            return ChaosFinale.status(admin);
        }

        boolean streaming() {
            VmStatus status = vm();
            return status != null && status.getState() == VmState.VM_REPLICATING;
        }

        @Override
        public void close() throws Exception {
            admin.close();
            link.close();
            process.close();
        }
    }

    /** The trial's certificates: every daemon and client runs over mutual TLS. */
    private ChaosPki pki;

    ChaosTrial.Outcome run() throws Exception {
        pki = ChaosPki.issue(work.resolve("pki"), ChaosFinale.VM);
        try (ZooKeeperEnsemble zookeeper = ZooKeeperEnsemble.start(work, 3);
             // The sink as deployed with a pool: it judges each primary by the fencing epoch ZooKeeper holds, so a
             // promotion or a primary going on alone reaches it through the authority, not only through the primaries.
             Coordinator sinkSession = Coordinator.connect(zookeeper.connectString(), 10_000, 15_000);
             ZooKeeperFencing authority = new ZooKeeperFencing(sinkSession, 2_000);
             OutputReceiver receiver = new OutputReceiver("127.0.0.1", 0, work.resolve("released.log"), pki.sink(),
                     OutputReceiver.Limits.DEFAULT, authority);
             // The operator's certificate reads the agent's metrics over mutual TLS (an admin may, as a reader may).
             MetricsReader metrics = new MetricsReader(pki.admin(), Duration.ofSeconds(2))) {
            List<Member> pool = new ArrayList<>();
            DaemonProcess agent = null;
            try {
                for (int i = 0; i < COLLECTORS; i++) {
                    pool.add(startCollector(i, zookeeper.connectString()));
                }
                // The trial begins with a protected primary: the pool full before the agent asks it for a place. An
                // agent that finds it empty goes on alone after its standby timeout, a start of its own kind.
                try (CollectorPool registered = new CollectorPool(sinkSession)) {
                    ChaosFinale.awaitUntil(() -> poolSize(registered) == COLLECTORS, "the collectors to join the pool");
                }
                int agentMetrics = ChaosFinale.freePort();
                List<String> agentArgs = new ArrayList<>(List.of("agent",
                        "--collectors", "zk:" + zookeeper.connectString(), "--vm", ChaosFinale.VM, "--source", protection.source(),
                        "--host-name", "host-of-the-agent", "--standby-timeout-ms", String.valueOf(STANDBY_TIMEOUT.toMillis()),
                        "--metrics-port", String.valueOf(agentMetrics), "--epoch-ms", "20", "--verify",
                        "--output-sink", "tcp://127.0.0.1:" + receiver.port()));
                agentArgs.addAll(protection.agentFlags(work));
                agentArgs.addAll(ChaosPki.flags(pki.agent()));
                agent = DaemonProcess.start(work.resolve("agent.log"), AGENT_JVM, "io.cpstream.cli.Main", agentArgs);
                Primary primary = new Primary(agent, agentMetrics, metrics);
                Member standby = awaitProtected(pool, primary, null);
                ChaosFinale.awaitUntil(() -> committed(standby) >= 5, "epoch 5 to be committed");
                Thread.sleep(random.nextInt(1500));
                ReleaseSampler sampler = ReleaseSampler.start(receiver);
                ReleaseSampler.Stall stall = null;
                long reprotected = -1;
                PromoteResponse promoted = null;
                switch (fault) {
                    case STANDBY_LOST -> {
                        long lostAt = System.nanoTime();
                        standby.process().kill9(); // for good: no restart
                        ChaosFinale.awaitUntil(() -> !primary.protectedByStandby(), "the primary to go on alone");
                        Member next = awaitProtected(pool, primary, standby);
                        reprotected = millisSince(lostAt);
                        Thread.sleep(500);
                        stall = sampler.stall(lostAt);
                        pool.remove(standby);
                        ChaosFinale.awaitUntil(() -> committed(next) >= 3, "epochs on the new standby");
                    }
                    case PARTITION_PROMOTE -> {
                        long cutAt = System.nanoTime();
                        // Half the time a partition both sides see at once, half the time a silent one.
                        if (random.nextBoolean()) {
                            standby.link().cut();
                        } else {
                            standby.link().blackHole();
                        }
                        // The operator (or a policy) on the standby's side promotes, before or after the primary's
                        // standby timeout: whoever raises the fencing epoch first wins.
                        Thread.sleep(random.nextInt((int) STANDBY_TIMEOUT.toMillis() * 2));
                        try {
                            promoted = standby.admin().promote(ChaosFinale.VM, true);
                        } catch (StatusRuntimeException e) {
                            if (e.getStatus().getCode() != Status.Code.ABORTED) {
                                throw e;
                            }
                        }
                        if (promoted != null) {
                            // The promotion won: the cut-off primary must stop by itself, without releasing.
                            if (!primary.process().awaitExit(ChaosFinale.PATIENCE)) {
                                violations.add("the primary kept running after its standby was promoted");
                            }
                        } else {
                            Member next = awaitProtected(pool, primary, standby);
                            reprotected = millisSince(cutAt);
                            Thread.sleep(500);
                            stall = sampler.stall(cutAt);
                            standby.link().heal();
                            ChaosFinale.awaitUntil(() -> committed(next) >= 3, "epochs on the new standby");
                        }
                    }
                    case ZK_MEMBER_LOST -> {
                        zookeeper.kill(random.nextInt(zookeeper.size()));
                        long before = committed(standby);
                        ChaosFinale.awaitUntil(() -> committed(standby) >= before + 5 || !standby.streaming(),
                                "replication to go on without a ZooKeeper member");
                    }
                    default -> throw new IllegalArgumentException(fault + " is not a fault of a pool");
                }
                sampler.close();
                if (promoted == null) {
                    // The primary's host dies now; the operator promotes its standby with the safe default.
                    Member holder = awaitProtected(pool, primary, null);
                    Thread.sleep(random.nextInt(300));
                    primary.process().kill9();
                    ChaosFinale.awaitUntil(() -> leaseRemaining(holder) == 0, "the dead primary's lease to run out");
                    promoted = holder.admin().promote(ChaosFinale.VM, false);
                }
                AgentConfig protect = AgentConfig.of("unused", ChaosFinale.VM)
                        .withFailover(new FailoverConfig("zk:" + zookeeper.connectString(), null, STANDBY_TIMEOUT,
                                FailoverConfig.OnLoss.WAIT, "host-of-the-promoted-vm"))
                        .withOutputSink("tcp://127.0.0.1:" + receiver.port())
                        .withHeartbeatInterval(Duration.ofMillis(100)).withTls(pki.agent());
                ChaosFinale.Checks checks = ChaosFinale.finish(promoted, receiver, protect, protection, work, violations);
                if (receiver.ungrantedEpochs() > 0) {
                    // Every primary here is honest: one presenting an epoch the authority never granted is a bug.
                    violations.add(receiver.ungrantedEpochs() + " sink requests presented a fencing epoch ZooKeeper "
                            + "never granted");
                }
                return ChaosTrial.Outcome.of(trial, fault, promoted, checks, stall, reprotected, violations);
            } finally {
                if (agent != null) {
                    agent.close();
                }
                for (Member member : pool) {
                    member.close();
                }
            }
        }
    }

    private Member startCollector(int index, String zookeeper) throws Exception {
        int port = ChaosFinale.freePort();
        TcpProxy link = new TcpProxy(new InetSocketAddress("127.0.0.1", port));
        List<String> args = new ArrayList<>(List.of("collector",
                "--listen", "127.0.0.1:" + port, "--data-dir", work.resolve("collector-" + index).toString(),
                "--zookeeper", zookeeper, "--advertise", "127.0.0.1:" + link.port(), "--host-name", "host-" + index,
                "--metrics-port", "0", "--lease-ms", String.valueOf(LEASE.toMillis())));
        args.addAll(ChaosPki.flags(pki.collector()));
        DaemonProcess process = DaemonProcess.start(work.resolve("collector-" + index + ".log"), COLLECTOR_JVM,
                "io.cpstream.cli.Main", args);
        return new Member(index, process, link, new AdminClient("127.0.0.1:" + port, pki.admin()));
    }

    /** The agent's process and what it says on its metrics port. */
    private record Primary(DaemonProcess process, int metricsPort, MetricsReader reader) {
        private static final Pattern PROTECTED = Pattern.compile("^cpstream_agent_protected\\{[^}]*} 1\\.0$",
                Pattern.MULTILINE);

        /** What the agent itself reports: a standby holds every output it released. False while unreachable. */
        boolean protectedByStandby() {
            try {
                HttpResponse<String> metrics = reader.get(metricsPort, "/metrics", Duration.ofSeconds(2));
                return metrics.statusCode() == 200 && PROTECTED.matcher(metrics.body()).find();
            } catch (IOException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
    }

    /**
     * The member the primary streams to once it has committed there and the primary says it is protected (every
     * output it released is in a checkpoint the standby committed), other than {@code not}.
     */
    private static Member awaitProtected(List<Member> pool, Primary primary, Member not)
            throws InterruptedException {
        Member[] found = new Member[1];
        ChaosFinale.awaitUntil(() -> {
            if (!primary.process().alive()) {
                throw new IllegalStateException("the agent stopped by itself: "
                        + ChaosFinale.lastLines(primary.process().log()));
            }
            if (!primary.protectedByStandby()) {
                return false;
            }
            for (Member member : pool) {
                if (member != not && member.streaming() && committed(member) > 0) {
                    found[0] = member;
                    return true;
                }
            }
            return false;
        }, "a collector of the pool to protect the primary");
        return found[0];
    }

    private static int poolSize(CollectorPool pool) {
        try {
            return pool.members().size();
        } catch (CoordinationException e) {
            return 0;
        }
    }

    private static long committed(Member member) {
        VmStatus status = member.vm();
        return status == null ? 0 : status.getCommittedEpoch();
    }

    private static long leaseRemaining(Member member) {
        VmStatus status = member.vm();
        return status == null ? Long.MAX_VALUE : status.getLeaseRemainingMs();
    }

    private static long millisSince(long nanos) {
        return (System.nanoTime() - nanos) / 1_000_000;
    }
}
