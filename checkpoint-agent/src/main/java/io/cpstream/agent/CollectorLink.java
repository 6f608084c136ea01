package io.cpstream.agent;

import io.cpstream.agent.failover.Failover;
import io.cpstream.agent.failover.Placement;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.Hello;
import io.cpstream.proto.Welcome;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The agent's link to its standby, on a thread of its own: asks the {@link Placement} for a collector, opens the
 * stream, says Hello, waits for the Welcome, and reconnects with backoff when the stream ends. When the agent has
 * been without a standby for the standby timeout, it asks {@link Failover} to go on alone, and moves to another
 * collector where the placement has one: losing the standby costs protection, never the service (I8).
 */
final class CollectorLink implements Runnable, AutoCloseable {

    private static final System.Logger LOG = System.getLogger(CollectorLink.class.getName());
    /** Statuses after which retrying cannot help: the collector refused this agent for good. */
    private static final Set<Status.Code> TERMINAL = Set.of(Status.Code.FAILED_PRECONDITION,
            Status.Code.INVALID_ARGUMENT, Status.Code.PERMISSION_DENIED, Status.Code.UNAUTHENTICATED,
            Status.Code.UNIMPLEMENTED, Status.Code.ABORTED, Status.Code.RESOURCE_EXHAUSTED);
    private static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(15);
    /** Room for a few page batches in flight on the connection, so the link stays busy between acks. */
    static final int FLOW_CONTROL_WINDOW = 8 << 20;

    /** What the link asks of its agent, and tells it. */
    interface Agent {
        /** The Hello to open a stream with (it carries the fencing epoch this primary holds now). */
        Hello hello();

        /** A message of the current stream; a Welcome completes {@code welcomed}. */
        void onMessage(CollectorMessage message, CompletableFuture<Welcome> welcomed);

        /** The collector at {@code target} welcomed the stream: checkpoints go there now. */
        void streaming(CollectorStream stream, Welcome welcome, Placement.Target target);

        /** The stream ended: no lease, nothing in flight. */
        void streamEnded();

        /** Gone on alone at {@code fencingEpoch} (raised by the authority when {@code fenced}). */
        void alone(long fencingEpoch, boolean fenced);

        /** Whether this primary goes on alone now (it does until a standby protects it again). */
        boolean isAlone();

        /** The fencing epoch it holds. */
        long fencingEpoch();

        /** The lease the collector last granted, or null before any grant. */
        Duration grantedLease();

        /** System.nanoTime() of the last sign of life of a collector: a message, or its taking in what was sent. */
        long lastHeardNanos();

        /** A sign of life of the collector that is no message: it took in what was sent. */
        void heard();

        /** Refused for good (fenced, wrong guest, bad input): the agent stops. */
        void refused(Status why);
    }

    private final String vm;
    private final FailoverConfig config;
    private final Failover failover;
    private final AgentMetrics metrics;
    private final Agent agent;
    private volatile boolean running = true;
    private ManagedChannel channel;
    private String channelTarget;
    private volatile CollectorStream current;
    private long lastRefusalLogNanos;

    CollectorLink(String vm, FailoverConfig config, Failover failover, AgentMetrics metrics, Agent agent) {
        this.vm = vm;
        this.config = config;
        this.failover = failover;
        this.metrics = metrics;
        this.agent = agent;
    }

    /** The stream checkpoints and heartbeats go on, or null while there is none. */
    CollectorStream current() {
        return current;
    }

    void stop() {
        running = false;
        CollectorStream stream = current;
        if (stream != null) {
            stream.cancel("agent stopping");
        }
    }

    @Override
    public void run() {
        long backoffMillis = 100;
        long lostSince = System.nanoTime();
        boolean first = true;
        while (running) {
            Placement.Target target = failover.placement().next();
            Status ended;
            if (target == null) {
                ended = Status.UNAVAILABLE.withDescription("no collector of " + failover.placement() + " is available");
            } else {
                if (!first) {
                    metrics.reconnects.increment();
                }
                first = false;
                CompletableFuture<Welcome> welcomed = new CompletableFuture<>();
                try {
                    ended = stream(target, welcomed);
                } catch (InterruptedException e) {
                    return;
                }
                if (welcomed.isDone() && !welcomed.isCompletedExceptionally()) {
                    backoffMillis = 100;
                    lostSince = agent.lastHeardNanos(); // the standby was lost when it fell silent
                }
            }
            current = null;
            agent.streamEnded();
            if (!running) {
                return;
            }
            if (target != null && TERMINAL.contains(ended.getCode())) {
                LOG.log(System.Logger.Level.ERROR, "vm {0}: the collector refused this agent: {1}", vm,
                        io.cpstream.agent.Agent.describe(ended));
                agent.refused(ended);
                return;
            }
            long timeout = config.timeout(agent.grantedLease()).toNanos();
            if (!agent.isAlone() && System.nanoTime() - lostSince >= timeout) {
                if (!goOnAlone(target)) {
                    return;
                }
            }
            if (agent.isAlone() && target != null && failover.placement().canMove()) {
                failover.placement().lost(target); // try elsewhere: the pool or list has more
                backoffMillis = 100;
            }
            LOG.log(System.Logger.Level.WARNING, "vm {0}: stream to {1} ended ({2}); reconnecting in {3} ms", vm,
                    target == null ? failover.placement() : target.address(), io.cpstream.agent.Agent.describe(ended),
                    backoffMillis);
            try {
                // Not past the standby timeout: wake up in time to decide when it runs out, not a backoff later.
                long untilTimeout = (lostSince + timeout - System.nanoTime()) / 1_000_000;
                Thread.sleep(agent.isAlone() ? backoffMillis : Math.max(10, Math.min(backoffMillis, untilTimeout)));
            } catch (InterruptedException e) {
                return;
            }
            backoffMillis = Math.min(backoffMillis * 2, 2000);
        }
    }

    /**
     * Without a standby for too long: asks to go on alone. Returns false when this primary must stop (a promotion
     * took the VM over).
     */
    private boolean goOnAlone(Placement.Target lost) {
        long holding = agent.fencingEpoch();
        switch (failover.goOnAlone(vm, holding)) {
            case Failover.Outcome.Claimed claimed -> {
                LOG.log(System.Logger.Level.WARNING, "vm {0}: no standby for over {1} ms; the authority fenced the lost "
                        + "one (fencing epoch {2} -> {3}): going on alone, UNPROTECTED, releasing output as it comes",
                        vm, config.timeout(agent.grantedLease()).toMillis(), holding, claimed.epoch());
                agent.alone(claimed.epoch(), true);
            }
            case Failover.Outcome.Unfenced unfenced -> {
                LOG.log(System.Logger.Level.WARNING, "vm {0}: no standby for over {1} ms and no authority to fence it; "
                        + "going on alone (--on-standby-loss continue), UNPROTECTED: if {2} promotes this VM now, two "
                        + "primaries run", vm, config.timeout(agent.grantedLease()).toMillis(),
                        lost == null ? "the lost collector" : lost.address());
                agent.alone(holding, false);
            }
            case Failover.Outcome.Lost lostRace -> {
                LOG.log(System.Logger.Level.ERROR, "vm {0}: cannot go on alone: {1}", vm, lostRace.why());
                agent.refused(Status.FAILED_PRECONDITION.withDescription("fenced: " + lostRace.why()));
                return false;
            }
            case Failover.Outcome.NotNow notNow -> {
                if (System.nanoTime() - lastRefusalLogNanos > TimeUnit.MINUTES.toNanos(1)) {
                    lastRefusalLogNanos = System.nanoTime();
                    LOG.log(System.Logger.Level.ERROR, "vm {0}: no standby, and output waits: {1}", vm, notNow.why());
                }
            }
        }
        return true;
    }

    /** One stream to {@code target}, from Hello until it ends; returns how it ended. */
    private Status stream(Placement.Target target, CompletableFuture<Welcome> welcomed) throws InterruptedException {
        CompletableFuture<Status> closed = new CompletableFuture<>();
        CollectorStream stream = new CollectorStream(channelTo(target.address()),
                message -> agent.onMessage(message, welcomed), closed::complete, agent::heard);
        try {
            stream.send(AgentMessage.newBuilder().setHello(agent.hello()).build());
            Object answer = CompletableFuture.anyOf(welcomed, closed).get(HANDSHAKE_TIMEOUT.toMillis(),
                    TimeUnit.MILLISECONDS);
            if (answer instanceof Welcome welcome) {
                current = stream;
                agent.streaming(stream, welcome, target);
            }
            // A partition may leave the connection open and silent: a stream that hears nothing for the whole standby
            // timeout (no grant, no ack, nothing of what was sent taken in) is as lost as one that ended. A collector
            // that is merely slow (a backlog of pages under load) still takes in what it is sent.
            while (true) {
                try {
                    return closed.get(100, TimeUnit.MILLISECONDS);
                } catch (TimeoutException stillOpen) {
                    long silent = System.nanoTime() - agent.lastHeardNanos();
                    if (silent > config.timeout(agent.grantedLease()).toNanos()) {
                        stream.cancel("the collector has been silent for " + silent / 1_000_000 + " ms");
                        return Status.UNAVAILABLE.withDescription("the collector at " + target.address()
                                + " has been silent for " + silent / 1_000_000 + " ms");
                    }
                }
            }
        } catch (CollectorStream.ClosedException e) {
            return e.status;
        } catch (TimeoutException e) {
            stream.cancel("no welcome within " + HANDSHAKE_TIMEOUT);
            return Status.DEADLINE_EXCEEDED.withDescription("the collector did not answer the hello");
        } catch (ExecutionException e) {
            return Status.fromThrowable(e.getCause());
        } catch (InterruptedException e) {
            stream.cancel("agent stopping");
            throw e;
        }
    }

    /** The channel to {@code address}, made anew when the target changes. */
    private ManagedChannel channelTo(String address) {
        if (channel == null || !address.equals(channelTarget)) {
            if (channel != null) {
                channel.shutdownNow();
            }
            channel = NettyChannelBuilder.forTarget(address)
                    .usePlaintext()
                    .keepAliveTime(10, TimeUnit.SECONDS)
                    .keepAliveTimeout(5, TimeUnit.SECONDS)
                    .keepAliveWithoutCalls(true)
                    .flowControlWindow(FLOW_CONTROL_WINDOW)
                    // The agent resends what a broken stream lost itself (the collector's Welcome says from
                    // where). gRPC's retries would keep every message until the call commits, to serialize it
                    // again, and a page's bytes are only valid until its batch was sent (BatchPayloads).
                    .disableRetry()
                    .build();
            channelTarget = address;
        }
        return channel;
    }

    @Override
    public void close() {
        if (channel != null) {
            channel.shutdownNow();
            try {
                channel.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        failover.close();
    }
}
