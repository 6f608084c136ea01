package io.cpstream.agent;

import com.google.protobuf.ByteString;
import io.cpstream.agent.failover.Failover;
import io.cpstream.agent.failover.Placement;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.Hello;
import io.cpstream.proto.LeaseGrant;
import io.cpstream.proto.Welcome;
import io.cpstream.security.PkiException;
import io.cpstream.security.Role;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.cpstream.security.TlsSettings;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import javax.net.ssl.SSLException;
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
    /**
     * A standby that renews the lease but takes in none of the checkpoints waiting for it (a wedged disk) is lost
     * after this many standby timeouts: long enough for a standby merely slow to apply a huge checkpoint.
     */
    static final int STALLED_TIMEOUTS = 10;

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

        /** The collector renewed the lease (on the Lease call, a gRPC thread). */
        void granted(LeaseGrant grant);

        /** Whether checkpoints wait for the collector's acknowledgement. */
        boolean awaitingAcks();

        /** Refused for good (fenced, wrong guest, bad input): the agent stops. */
        void refused(Status why);

        /** Whether the guest's inputs are logged to the collector (record/replay protection): an EventLog call is needed. */
        boolean logsInputs();

        /**
         * The collector journaled every input below the ack's end, and (lockstep) compared outputs to its
         * compared_output_end (on the EventLog call, a gRPC thread).
         */
        void inputsJournaled(io.cpstream.proto.EventLogAck ack);

        /** The EventLog call can take a chunk again. */
        void eventLogReady();
    }

    private final String vm;
    private final FailoverConfig config;
    private final Failover failover;
    private final AgentMetrics metrics;
    private final Agent agent;
    private volatile boolean running = true;
    private ManagedChannel channel;
    /** The Lease call's own connection to the same collector, so heartbeats never queue behind page data. */
    private ManagedChannel leaseChannel;
    private String channelTarget;
    /**
     * Channels already connecting to where the agent would go if it lost its collector for good, opened while it
     * waits out the standby timeout: the TLS handshake with a collector that never served this agent (a few hundred
     * milliseconds, most of a second when that collector's JVM is cold) is then done before the agent goes on alone,
     * not after. Only a connection: no Hello is sent, so no second standby is built while the first may be promoted.
     */
    private ManagedChannel spare;
    private ManagedChannel spareLease;
    private String spareTarget;
    private volatile CollectorStream current;
    /** The Lease call beside the current stream, and the token its Welcome gave; null while there is no stream. */
    private LeaseCall lease;
    private ByteString leaseToken;
    /** Record/replay protection: the EventLog call beside the current stream, under the same token; else null. */
    private volatile EventLogCall eventLog;
    /** System.nanoTime() of the last sign of life of a collector: a grant, a message, or its taking in data. */
    private volatile long lastHeardNanos = System.nanoTime();
    /** System.nanoTime() of the last sign the stream moves: a message on it, or its taking in what was sent. */
    private volatile long lastProgressNanos = System.nanoTime();
    private long lastRefusalLogNanos;

    /** Mutual TLS for both channels (the collector must present a collector certificate), or null: plaintext. */
    private final SslContext tls;

    CollectorLink(String vm, FailoverConfig config, TlsSettings tls, Failover failover, AgentMetrics metrics,
                  Agent agent) {
        this.vm = vm;
        try {
            this.tls = tls.insecure() ? null : Tls.grpcClient(TlsMaterial.load(tls, Role.COLLECTOR));
        } catch (PkiException | SSLException e) {
            throw new IllegalArgumentException("TLS: " + e.getMessage(), e);
        }
        tls.warnIfInsecure("agent of vm " + vm);
        this.config = config;
        this.failover = failover;
        this.metrics = metrics;
        this.agent = agent;
    }

    /** The stream checkpoints and heartbeats go on, or null while there is none. */
    CollectorStream current() {
        return current;
    }

    /** The EventLog call of the current stream (record/replay protection), or null while there is none. */
    EventLogCall eventLog() {
        return eventLog;
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
                    lostSince = lastHeardNanos; // the standby was lost when it fell silent
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
            if (!agent.isAlone() && target != null && failover.placement().canMove()) {
                prepareSuccessor(target);
            }
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
        CollectorStream stream = new CollectorStream(channelTo(target.address()), message -> {
            progressed();
            agent.onMessage(message, welcomed);
        }, closed::complete, this::progressed);
        try {
            stream.send(AgentMessage.newBuilder().setHello(agent.hello()).build());
            Object answer = CompletableFuture.anyOf(welcomed, closed).get(HANDSHAKE_TIMEOUT.toMillis(),
                    TimeUnit.MILLISECONDS);
            if (answer instanceof Welcome welcome) {
                dropSpare(); // placed: the spare was for a loss that did not come (or is this connection now)
                current = stream;
                openLease(welcome.getLeaseToken(), stream);
                agent.streaming(stream, welcome, target);
            }
            // A partition may leave the connection open and silent: a collector that answers no heartbeat and sends
            // nothing for the whole standby timeout is as lost as one whose stream ended. One busy with a full sync
            // or a backlog still renews the lease on its own connection; one that renews but takes in nothing of
            // the checkpoints waiting for it, for many timeouts, is wedged and lost too.
            while (true) {
                try {
                    return closed.get(100, TimeUnit.MILLISECONDS);
                } catch (TimeoutException stillOpen) {
                    long timeout = config.timeout(agent.grantedLease()).toNanos();
                    long silent = System.nanoTime() - lastHeardNanos;
                    long stalled = System.nanoTime() - lastProgressNanos;
                    String lost = silent > timeout ? "has been silent for " + silent / 1_000_000 + " ms"
                            : agent.awaitingAcks() && stalled > STALLED_TIMEOUTS * timeout
                            ? "has taken in no checkpoint data for " + stalled / 1_000_000 + " ms" : null;
                    if (lost != null) {
                        stream.cancel("the collector " + lost);
                        return Status.UNAVAILABLE.withDescription("the collector at " + target.address() + " " + lost);
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
        } finally {
            closeLease();
        }
    }

    /** Sends heartbeat {@code sequence} on the Lease call, reopening the call if it ended; false if not sent. */
    synchronized boolean heartbeat(long sequence) {
        if (lease == null) {
            return false;
        }
        if (lease.closed()) {
            lease = new LeaseCall(leaseChannel, vm, leaseToken, this::granted);
        }
        return lease.offer(sequence);
    }

    /** Opens the calls beside the stream the Welcome carrying {@code token} attached: the lease, and the event log. */
    private synchronized void openLease(ByteString token, CollectorStream stream) {
        leaseToken = token;
        lease = new LeaseCall(leaseChannel, vm, token, this::granted);
        if (agent.logsInputs()) {
            eventLog = new EventLogCall(leaseChannel, vm, token, agent::inputsJournaled, agent::eventLogReady,
                    ended -> eventLogEnded(stream, ended));
        }
    }

    /**
     * The collector ended the EventLog call (or its connection broke): a refusal for good stops the agent, as on the
     * stream; anything else (a full journal included) starts over on a new stream, whose Welcome says where the
     * collector's journal ends.
     */
    private void eventLogEnded(CollectorStream stream, Status ended) {
        // A full journal refuses inputs, not this agent: room comes back as checkpoints commit (each chunk says where
        // the last was taken), so it starts over like a broken call. Its standby serves it; it never stops it (I8).
        if (TERMINAL.contains(ended.getCode()) && ended.getCode() != Status.Code.RESOURCE_EXHAUSTED) {
            LOG.log(System.Logger.Level.ERROR, "vm {0}: the collector refused this agent''s event log: {1}", vm,
                    io.cpstream.agent.Agent.describe(ended));
            stream.cancel("the collector refused the event log");
            agent.refused(ended);
        } else {
            stream.cancel("the event log call ended: " + io.cpstream.agent.Agent.describe(ended));
        }
    }

    private synchronized void closeLease() {
        if (lease != null) {
            lease.cancel();
            lease = null;
        }
        if (eventLog != null) {
            eventLog.cancel();
            eventLog = null;
        }
    }

    private void granted(LeaseGrant grant) {
        lastHeardNanos = System.nanoTime();
        agent.granted(grant);
    }

    private void progressed() {
        long now = System.nanoTime();
        lastProgressNanos = now;
        lastHeardNanos = now;
    }

    /**
     * The channels to {@code address}, the stream's and the lease's, made anew when the target changes (or taken
     * over from the spare, when it connects there).
     */
    private ManagedChannel channelTo(String address) {
        if (channel == null || !address.equals(channelTarget)) {
            shutdown(channel);
            shutdown(leaseChannel);
            if (address.equals(spareTarget)) {
                channel = spare;
                leaseChannel = spareLease;
                spare = null;
                spareLease = null;
                spareTarget = null;
            } else {
                channel = newChannel(address, StreamTuning.FLOW_CONTROL_WINDOW);
                // Heartbeats are a few dozen bytes: the default window is plenty.
                leaseChannel = newChannel(address, 0);
            }
            channelTarget = address;
        }
        return channel;
    }

    /** Starts connecting to where the agent would be placed if {@code lost} is lost for good ({@link #spare}). */
    private void prepareSuccessor(Placement.Target lost) {
        if (spare != null) {
            return; // once per loss: each choice reads the pool, and next() reads it again when the agent moves
        }
        Placement.Target next = failover.placement().successor(lost);
        if (next == null || next.address().equals(channelTarget)) {
            return;
        }
        spare = newChannel(next.address(), StreamTuning.FLOW_CONTROL_WINDOW);
        spareLease = newChannel(next.address(), 0);
        spare.getState(true); // connect now, without a call
        spareLease.getState(true);
        spareTarget = next.address();
    }

    private void dropSpare() {
        shutdown(spare);
        shutdown(spareLease);
        spare = null;
        spareLease = null;
        spareTarget = null;
    }

    private ManagedChannel newChannel(String address, int flowControlWindow) {
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget(address);
        if (tls == null) {
            builder.usePlaintext();
        } else {
            builder.sslContext(tls);
        }
        builder
                .keepAliveTime(10, TimeUnit.SECONDS)
                .keepAliveTimeout(5, TimeUnit.SECONDS)
                .keepAliveWithoutCalls(true)
                // The agent resends what a broken stream lost itself (the collector's Welcome says from
                // where). gRPC's retries would keep every message until the call commits, to serialize it
                // again, and a page's bytes are only valid until its batch was sent (BatchPayloads).
                .disableRetry();
        if (flowControlWindow > 0) {
            builder.flowControlWindow(flowControlWindow);
        }
        return builder.build();
    }

    private static void shutdown(ManagedChannel channel) {
        if (channel == null) {
            return;
        }
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        closeLease();
        shutdown(channel);
        shutdown(leaseChannel);
        dropSpare();
        failover.close();
    }
}
