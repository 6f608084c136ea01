package io.cpstream.agent;

import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.agent.output.OutputSink;
import io.cpstream.agent.output.OutputSinks;
import io.cpstream.proto.Heartbeat;
import io.cpstream.proto.Hello;
import io.cpstream.proto.SourceInfo;
import io.cpstream.proto.Welcome;
import io.cpstream.tracker.MemorySource;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongConsumer;

/**
 * The checkpoint agent of one guest: keeps a stream to the collector open (reconnecting with backoff),
 * takes a checkpoint every epoch, and streams it while the guest runs on.
 *
 * <p>Five threads: the link (connects, handshakes, waits for the stream to end), the heartbeat (renews
 * the lease while a stream is up), the output releaser ({@link OutputGate#releaseLoop}: acknowledged outputs
 * to the sink, while the lease holds), the epoch loop (stuns and copies) and the sender (encodes and
 * streams). The collector's messages arrive on gRPC's threads ({@link #onMessage}). They meet in
 * {@link ReplicationState} (what the standby holds) and {@link OutputGate} (the outputs held until
 * acknowledged).
 */
public final class Agent implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(Agent.class.getName());
    static final int PROTOCOL_VERSION = 2;
    /** Statuses after which retrying cannot help: the collector refused this agent for good. */
    private static final Set<Status.Code> TERMINAL = Set.of(Status.Code.FAILED_PRECONDITION,
            Status.Code.INVALID_ARGUMENT, Status.Code.PERMISSION_DENIED, Status.Code.UNAUTHENTICATED,
            Status.Code.UNIMPLEMENTED, Status.Code.ABORTED, Status.Code.RESOURCE_EXHAUSTED);
    private static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(15);
    /** Room for a few page batches in flight on the connection, so the link stays busy between acks. */
    static final int FLOW_CONTROL_WINDOW = 8 << 20;

    private final AgentConfig config;
    private final MemorySource source;
    private final ReplicationState state;
    private final AgentMetrics metrics;
    private final AgentStats stats = new AgentStats();
    private final DigestLog digests;
    private final StagingPool staging;
    private final ManagedChannel channel;
    private final EpochLoop epochLoop;
    private final CheckpointSender sender;
    private final List<LongConsumer> ackListeners = new CopyOnWriteArrayList<>();
    private final PrimaryLease lease = new PrimaryLease();
    private final OutputSink outputSink;
    private final OutputGate outputs;
    private Thread releaserThread;
    private Thread heartbeatThread;
    private final CountDownLatch terminated = new CountDownLatch(1);
    private final String agentId;
    private volatile CollectorStream current;
    private volatile Status failure;
    /** System.nanoTime() of the stun of the newest acknowledged epoch; 0 until the first ack. */
    private volatile long ackedStunNanos;
    private volatile boolean running;
    private Thread linkThread;
    private Thread loopThread;
    private Thread senderThread;

    /**
     * An agent releasing output to the sink {@code config.outputSink()} names.
     *
     * @throws IllegalArgumentException when the output sink spec is wrong or the sink cannot be opened
     */
    public Agent(AgentConfig config, MemorySource source, MeterRegistry registry) {
        this(config, source, registry, openSink(config.outputSink()));
    }

    /** An agent releasing output to {@code sink}, which it closes when it stops. */
    public Agent(AgentConfig config, MemorySource source, MeterRegistry registry, OutputSink sink) {
        this.config = config;
        this.source = source;
        this.outputSink = sink;
        this.outputs = new OutputGate(config.vmId(), config.fencingEpoch(), sink, lease, config.maxPendingOutputBytes());
        this.state = new ReplicationState(source.pageCount(), UUID.randomUUID().toString());
        this.digests = new DigestLog(config.digestsRetained());
        this.staging = new StagingPool(config.maxInFlight() + 1);
        this.metrics = new AgentMetrics(registry, config.vmId(), state::acked, state::inFlight,
                () -> state.connected() ? 1 : 0);
        BlockingQueue<CapturedCheckpoint> outbox = new ArrayBlockingQueue<>(config.maxInFlight() + 1);
        OutputMetrics.register(registry, config.vmId(), outputs, lease, config.fencingEpoch());
        this.epochLoop = new EpochLoop(source, state, staging, outbox, config, metrics, stats, digests, outputs);
        this.sender = new CheckpointSender(outbox, state, source.pageSize(), source.pageCount(), config, metrics, stats,
                outputs);
        this.channel = NettyChannelBuilder.forTarget(config.collector())
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
        this.agentId = hostName() + "/" + ProcessHandle.current().pid();
    }

    /** Starts the guest (if it is not running yet) and replication. */
    public synchronized void start() {
        if (running) {
            return;
        }
        running = true;
        source.start();
        linkThread = Thread.ofPlatform().name("agent-link-" + config.vmId()).start(this::maintainLink);
        heartbeatThread = Thread.ofPlatform().daemon().name("agent-heartbeat-" + config.vmId()).start(this::heartbeats);
        releaserThread = Thread.ofPlatform().name("agent-output-" + config.vmId()).start(() -> {
            outputs.releaseLoop();
            if (outputs.fenced() != null) {
                shutdown(Status.FAILED_PRECONDITION.withDescription("fenced by the output sink: "
                        + outputs.fenced().getMessage()));
            }
        });
        loopThread = Thread.ofPlatform().name("agent-epochs-" + config.vmId()).start(epochLoop);
        senderThread = Thread.ofPlatform().name("agent-sender-" + config.vmId()).start(sender);
    }

    /** Called with each newly acknowledged epoch, on a gRPC thread; must be quick. */
    public void onAcknowledged(LongConsumer listener) {
        ackListeners.add(listener);
    }

    public long acknowledgedEpoch() {
        return state.acked();
    }

    public boolean connected() {
        return state.connected();
    }

    /**
     * Hands a restored guest the outputs its checkpoint holds that its old primary may not have
     * released (indexes from {@code start}); they are released first. Call before {@link #start()}.
     */
    public void seedOutputs(long start, List<byte[]> records) {
        outputs.seed(start, records);
    }

    /** Outputs released to the sink so far by this agent. */
    public long outputsReleased() {
        return outputs.releasedRecords();
    }

    /** Index of the next output to release: every output below it has left this agent (or was never its to release). */
    public long outputReleasedEnd() {
        return outputs.releasedEnd();
    }

    /** True while the collector's last grant lets this agent act as the primary. */
    public boolean holdsLease() {
        return lease.holds();
    }

    /**
     * How old the standby is as far as this agent knows: now minus the stun of the newest acknowledged
     * epoch. Grows while nothing is acknowledged, unlike a lag sample. Null before the first ack.
     */
    public Duration acknowledgedAge() {
        long stun = ackedStunNanos;
        return stun == 0 ? null : Duration.ofNanos(System.nanoTime() - stun);
    }

    /** The fencing epoch this agent presents. */
    public long fencingEpoch() {
        return config.fencingEpoch();
    }

    public AgentStats.Snapshot stats() {
        return stats.snapshot();
    }

    /** Whether stable pages are copied after the guest resumed (history split on a source that can protect pages). */
    public boolean defersStablePages() {
        return epochLoop.defersStablePages();
    }

    /** Starts a new window for {@link #stats()}. */
    public void resetStats() {
        stats.reset();
    }

    /** SHA-256 of guest memory at the stun of {@code epoch}, if it was computed (verify mode) and retained. */
    public byte[] digestAt(long epoch) {
        return digests.get(epoch);
    }

    /** Fault injection for tests: the next {@code count} delta records go out corrupted. */
    public void corruptNextDeltas(int count) {
        sender.encoder().corruptNextDeltas(count);
    }

    /** Why the agent stopped on its own (fenced, refused), or null while it runs or after a clean stop. */
    public Status failure() {
        return failure;
    }

    /** Waits until the agent stops on its own or is closed; returns false on timeout. */
    public boolean awaitTermination(Duration timeout) throws InterruptedException {
        return terminated.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        shutdown(null);
        try {
            outputSink.close(); // unblocks a release waiting on the sink
        } catch (java.io.IOException e) {
            LOG.log(System.Logger.Level.WARNING, "closing the output sink: " + e.getMessage());
        }
        join(linkThread);
        join(loopThread);
        join(senderThread);
        join(releaserThread);
        join(heartbeatThread);
        sender.close();
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        staging.close();
    }

    // ------------------------------------------------------------------ the link

    private void maintainLink() {
        long backoffMillis = 100;
        boolean first = true;
        while (running) {
            if (!first) {
                metrics.reconnects.increment();
            }
            first = false;
            CompletableFuture<Welcome> welcomed = new CompletableFuture<>();
            CompletableFuture<Status> closed = new CompletableFuture<>();
            CollectorStream stream = new CollectorStream(channel, message -> onMessage(message, welcomed),
                    closed::complete);
            Status ended;
            try {
                stream.send(AgentMessage.newBuilder().setHello(hello()).build());
                Object answer = CompletableFuture.anyOf(welcomed, closed)
                        .get(HANDSHAKE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                Welcome welcome = answer instanceof Welcome w ? w : null;
                if (welcome != null) {
                    backoffMillis = 100;
                    current = stream;
                    sender.encoder().onWelcome(welcome.getPageVersionsAfter());
                    Acknowledged confirmed = state.onWelcome(stream, welcome.getCommittedEpoch(),
                            welcome.getFullSyncRequired(), welcome.getLineage(), welcome.getCommittedOutputEnd());
                    LOG.log(System.Logger.Level.INFO, "vm {0}: streaming to {1}, standby at epoch {2}{3}",
                            config.vmId(), config.collector(), welcome.getCommittedEpoch(),
                            welcome.getFullSyncRequired() ? " (full sync required)" : "");
                    acknowledged(confirmed);
                }
                ended = closed.get();
            } catch (CollectorStream.ClosedException e) {
                ended = e.status;
            } catch (TimeoutException e) {
                stream.cancel("no welcome within " + HANDSHAKE_TIMEOUT);
                ended = Status.DEADLINE_EXCEEDED.withDescription("the collector did not answer the hello");
            } catch (ExecutionException e) {
                ended = Status.fromThrowable(e.getCause());
            } catch (InterruptedException e) {
                stream.cancel("agent stopping");
                return;
            }
            current = null;
            lease.revoke();
            outputs.leaseChanged();
            state.onDisconnect();
            if (!running) {
                return;
            }
            if (TERMINAL.contains(ended.getCode())) {
                LOG.log(System.Logger.Level.ERROR, "vm {0}: the collector refused this agent: {1}", config.vmId(),
                        describe(ended));
                shutdown(ended);
                return;
            }
            LOG.log(System.Logger.Level.WARNING, "vm {0}: stream to {1} ended ({2}); reconnecting in {3} ms",
                    config.vmId(), config.collector(), describe(ended), backoffMillis);
            try {
                Thread.sleep(backoffMillis);
            } catch (InterruptedException e) {
                return;
            }
            backoffMillis = Math.min(backoffMillis * 2, 2000);
        }
    }

    private void onMessage(CollectorMessage message, CompletableFuture<Welcome> welcomed) {
        switch (message.getBodyCase()) {
            case WELCOME -> welcomed.complete(message.getWelcome());
            case ACK -> acknowledged(state.onAck(message.getAck().getEpoch()));
            case RESYNC -> {
                var resync = message.getResync();
                metrics.resyncs.increment();
                metrics.checksumResends.increment(resync.getPagesCount());
                LOG.log(System.Logger.Level.WARNING, "vm {0}: collector dropped epoch {1} and asks for a resync from "
                        + "epoch {2}: {3}", config.vmId(), resync.getAbortedEpoch(), resync.getCommittedEpoch(),
                        resync.getReason());
                sender.encoder().onResync(resync.getPagesList());
                state.onResync(resync.getCommittedEpoch(), resync.getPagesList(), resync.getFull(),
                        resync.getCommittedOutputEnd());
            }
            case LEASE -> {
                lease.granted(message.getLease().getSequence(), message.getLease().getValidMicros());
                outputs.leaseChanged();
            }
            case FEEDBACK -> sender.encoder().onFeedback(message.getFeedback());
            case BODY_NOT_SET -> {
            }
        }
    }

    /** Renews the lease while a stream is up; each grant comes back on the stream. */
    private void heartbeats() {
        long interval = config.heartbeatInterval().toNanos();
        while (running) {
            CollectorStream stream = current;
            if (stream != null) {
                try {
                    long sequence = lease.heartbeatSent();
                    stream.send(AgentMessage.newBuilder().setHeartbeat(Heartbeat.newBuilder()
                            .setSequence(sequence)
                            .setSentUnixMicros(TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis()))).build());
                } catch (CollectorStream.ClosedException e) {
                    // the link thread notices and reconnects
                } catch (InterruptedException e) {
                    return;
                }
            }
            java.util.concurrent.locks.LockSupport.parkNanos(interval);
        }
    }

    private static OutputSink openSink(String spec) {
        try {
            return OutputSinks.open(spec);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("cannot open the output sink " + spec + ": " + e.getMessage(), e);
        }
    }

    /**
     * What an Ack or a Welcome newly acknowledged (null: nothing): its outputs become releasable, its lag is
     * recorded when its stun time is known, and the listeners hear of it.
     */
    private void acknowledged(Acknowledged acknowledged) {
        if (acknowledged == null) {
            return;
        }
        outputs.committed(acknowledged);
        if (acknowledged.timed()) {
            long lag = System.nanoTime() - acknowledged.stunNanos();
            metrics.lag.record(lag, TimeUnit.NANOSECONDS);
            ackedStunNanos = acknowledged.stunNanos();
            stats.recordAck(acknowledged.epoch(), lag);
        }
        for (LongConsumer listener : ackListeners) {
            listener.accept(acknowledged.epoch());
        }
    }

    private Hello hello() {
        return Hello.newBuilder()
                .setProtocolVersion(PROTOCOL_VERSION)
                .setVmId(config.vmId())
                .setPageSize(source.pageSize())
                .setPageCount(source.pageCount())
                .setFencingEpoch(config.fencingEpoch())
                .setLastAckedEpoch(state.acked())
                .setAgentId(agentId)
                .setLineage(state.lineage())
                .setSource(SourceInfo.newBuilder().setKind(source.kind()).putAllParams(source.params()))
                .build();
    }

    private synchronized void shutdown(Status why) {
        if (!running && terminated.getCount() == 0) {
            return;
        }
        running = false;
        if (why != null && failure == null) {
            failure = why;
        }
        epochLoop.stop();
        sender.stop();
        outputs.stop();
        CollectorStream stream = current;
        if (stream != null) {
            stream.cancel("agent stopping");
        }
        if (loopThread != null) {
            loopThread.interrupt();
        }
        if (senderThread != null) {
            senderThread.interrupt();
        }
        if (releaserThread != null && Thread.currentThread() != releaserThread) {
            releaserThread.interrupt();
        }
        if (heartbeatThread != null) {
            heartbeatThread.interrupt();
        }
        if (linkThread != null && Thread.currentThread() != linkThread) {
            linkThread.interrupt();
        }
        terminated.countDown();
    }

    private static void join(Thread thread) {
        if (thread == null || thread == Thread.currentThread()) {
            return;
        }
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A status as one line: its code and description. */
    public static String describe(Status status) {
        return status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription());
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            return "unknown-host";
        }
    }
}
