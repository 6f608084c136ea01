package io.cpstream.agent;

import io.cpstream.agent.failover.Failover;
import io.cpstream.agent.failover.Placement;
import io.cpstream.agent.output.OutputSink;
import io.cpstream.agent.output.OutputSinks;
import io.cpstream.coordination.CoordinationException;
import io.cpstream.coordination.Primaries;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.EventLogAck;
import io.cpstream.proto.Hello;
import io.cpstream.proto.LeaseGrant;
import io.cpstream.proto.SourceInfo;
import io.cpstream.proto.Welcome;
import io.cpstream.tracker.MemorySource;
import io.grpc.Status;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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
    /** Whether this agent said already that its threads could not raise their priority. */
    private final java.util.concurrent.atomic.AtomicBoolean priorityWarned = new java.util.concurrent.atomic.AtomicBoolean();
    public static final int PROTOCOL_VERSION = 8;

    private final AgentConfig config;
    private final MemorySource source;
    private final ReplicationState state;
    private final AgentMetrics metrics;
    private final AgentStats stats = new AgentStats();
    private final DigestLog digests;
    private final StagingPool staging;
    private final CollectorLink link;
    private final Failover failover;
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
    private final String hostName;
    private volatile Status failure;
    /** The fencing epoch this primary holds: raised by the authority when it goes on alone. */
    private volatile long fencingEpoch;
    /** The lease the collector last granted; null before any grant. */
    private volatile Duration grantedLease;
    /** Where checkpoints go now, or null while there is no stream. */
    private volatile Placement.Target target;
    /** The newest acknowledged epoch when this primary went on alone: a newer ack means a standby again. */
    private volatile long ackedWhenAlone;
    /** Went on alone and not yet protected again: told once, when it is. */
    private volatile boolean unprotected;
    private long lastAloneLogNanos;
    /** System.nanoTime() of the stun of the newest acknowledged epoch; 0 until the first ack. */
    private volatile long ackedStunNanos;
    private volatile boolean running;
    private Thread linkThread;
    private Thread loopThread;
    private Thread senderThread;
    /** Record/replay protection ({@link #protectByReplay}), or null for checkpoints alone. */
    private EventRecorder recorder;
    private Thread recorderThread;
    /** The primary's copy of its guest's inputs ({@code --record-inputs}), or null. */
    private InputCopy inputs;

    /**
     * An agent releasing output to the sink {@code config.outputSink()} names.
     *
     * @throws IllegalArgumentException when the output sink spec is wrong or the sink cannot be opened
     */
    public Agent(AgentConfig config, MemorySource source, MeterRegistry registry) {
        this(config, source, registry, openSink(config.outputSink(), config.tls()));
    }

    /** An agent releasing output to {@code sink}, which it closes when it stops. */
    public Agent(AgentConfig config, MemorySource source, MeterRegistry registry, OutputSink sink) {
        this.config = config;
        this.source = source;
        this.outputSink = sink;
        this.fencingEpoch = config.fencingEpoch();
        this.outputs = new OutputGate(config.vmId(), config.fencingEpoch(), sink, lease, config.maxPendingOutputBytes(),
                source::pollOutputs);
        this.state = new ReplicationState(source.pageCount(), UUID.randomUUID().toString());
        this.digests = new DigestLog(config.digestsRetained());
        this.staging = new StagingPool(config.maxInFlight() + 1);
        this.metrics = new AgentMetrics(registry, config.vmId(), state::acked, state::inFlight,
                () -> state.connected() ? 1 : 0, () -> outputs.protectedByStandby() ? 1 : 0);
        BlockingQueue<CapturedCheckpoint> outbox = new ArrayBlockingQueue<>(config.maxInFlight() + 1);
        OutputMetrics.register(registry, config.vmId(), outputs, lease);
        this.epochLoop = new EpochLoop(source, state, staging, outbox, config, metrics, stats, digests, outputs);
        this.sender = new CheckpointSender(outbox, state, source.pageSize(), source.pageCount(), config, metrics, stats,
                outputs);
        this.hostName = config.failover().hostName().isEmpty() ? hostName() : config.failover().hostName();
        this.agentId = hostName + "/" + ProcessHandle.current().pid();
        try {
            this.failover = Failover.open(config.failover(), config.collector(),
                    (long) source.pageSize() * source.pageCount(), hostName);
        } catch (CoordinationException e) {
            sender.close();
            staging.close();
            throw new IllegalArgumentException("cannot reach the authority or the pool of collectors: "
                    + e.getMessage(), e);
        }
        try {
            this.link = new CollectorLink(config.vmId(), config.failover(), config.tls(), failover, metrics,
                    new LinkEvents());
        } catch (IllegalArgumentException e) {
            failover.close();
            sender.close();
            staging.close();
            throw e;
        }
    }

    /**
     * Record/replay protection ({@code --protect replay}): the guest's inputs stream to the collector as they come and
     * each output is released once the inputs before it are journaled there, instead of once its epoch commits.
     * Checkpoints still run (less often is fine), bounding what a promotion replays. Call before {@link #start()}.
     *
     * @throws IllegalArgumentException when the source cannot record its inputs (only {@code emu} can)
     */
    public synchronized void protectByReplay() {
        protectByReplay(null);
    }

    /**
     * Record/replay protection, also writing every input the guest gets to {@code inputCopy} (null: nowhere), from
     * where the agent starts: see {@link InputCopy}.
     */
    public synchronized void protectByReplay(java.nio.file.Path inputCopy) {
        protectByInputLog(inputCopy, false);
    }

    /**
     * Quasi-lockstep protection ({@code --protect lockstep}): record/replay, and in addition the collector runs a
     * secondary of the guest from its committed checkpoint and the journaled inputs, compares every output the
     * secondary emits with the primary's, and on a mismatch resynchronizes it from the next checkpoint. An output is
     * released only once the secondary matched it (or a checkpoint holding it was committed and the secondary
     * restarted from there), so a divergence is found before its output leaves. A collector that runs no secondary
     * says so, and outputs then go as under {@link #protectByReplay}. Call before {@link #start()}.
     */
    public synchronized void protectByLockstep(java.nio.file.Path inputCopy) {
        protectByInputLog(inputCopy, true);
    }

    private void protectByInputLog(java.nio.file.Path inputCopy, boolean lockstep) {
        if (running) {
            throw new IllegalStateException("choose the protection before the agent starts");
        }
        var rr = source.recordReplay().orElseThrow(() -> new IllegalArgumentException("--protect "
                + (lockstep ? "lockstep" : "replay") + " needs a guest whose inputs can be recorded (an emu source); " + source.kind() + " cannot"));
        inputs = inputCopy == null ? null : new InputCopy(inputCopy);
        recorder = new EventRecorder(config.vmId(), rr, outputs, link::eventLog, roundTrip -> {
            stats.recordEventAck(roundTrip);
            metrics.eventLogAck.record(roundTrip, TimeUnit.NANOSECONDS);
        }, inputs, lockstep);
        epochLoop.onStun(recorder::stunned);
    }

    /** Starts the guest (if it is not running yet) and replication. */
    public synchronized void start() {
        if (running) {
            return;
        }
        running = true;
        if (recorder != null) {
            recorder.begin();
            recorderThread = Thread.ofPlatform().name("agent-events-" + config.vmId()).start(prioritized(recorder));
        }
        source.start();
        linkThread = Thread.ofPlatform().name("agent-link-" + config.vmId()).start(link);
        heartbeatThread = Thread.ofPlatform().daemon().name("agent-heartbeat-" + config.vmId())
                .start(prioritized(this::heartbeats));
        releaserThread = Thread.ofPlatform().name("agent-output-" + config.vmId()).start(() -> {
            outputs.releaseLoop();
            if (outputs.fenced() instanceof io.cpstream.agent.output.OutputSink.DeniedException denied) {
                shutdown(Status.PERMISSION_DENIED.withDescription(denied.getMessage() + " (the agent certificate must "
                        + "name vm " + config.vmId() + ": cpstream pki issue --role agent --vm " + config.vmId() + ")"));
            } else if (outputs.fenced() != null) {
                shutdown(Status.FAILED_PRECONDITION.withDescription("fenced by the output sink: "
                        + outputs.fenced().getMessage()));
            }
        });
        loopThread = Thread.ofPlatform().name("agent-epochs-" + config.vmId()).start(prioritized(epochLoop));
        senderThread = Thread.ofPlatform().name("agent-sender-" + config.vmId()).start(prioritized(sender));
    }

    /**
     * {@code body} on a thread that first asks for a better CPU share than the guests' ({@link ThreadPriority}): the
     * stuns, the stream and the lease are what protection runs on, and on a busy host the scheduler would otherwise
     * delay them behind the very guests they protect.
     */
    private Runnable prioritized(Runnable body) {
        return () -> {
            ThreadPriority.raiseCurrentThread(ThreadPriority.NICE).ifPresent(why -> {
                if (!priorityWarned.getAndSet(true)) {
                    LOG.log(System.Logger.Level.INFO, "vm {0}: stuns and the stream run at normal priority: {1}",
                            config.vmId(), why);
                }
            });
            body.run();
        };
    }

    /** Called with each newly acknowledged epoch, on a gRPC thread; must be quick. */
    public void onAcknowledged(LongConsumer listener) {
        ackListeners.add(listener);
    }

    public long acknowledgedEpoch() {
        return state.acked();
    }

    /**
     * Under record/replay protection, the port access below which every input the guest got is journaled by the
     * collector; 0 under checkpoint protection.
     */
    public long eventLogAcknowledgedEnd() {
        return recorder == null ? 0 : recorder.acknowledgedEnd();
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

    /** The fencing epoch this agent presents: the configured one, or the one the authority raised it to. */
    public long fencingEpoch() {
        return fencingEpoch;
    }

    /**
     * Whether a standby protects this primary: false once it went on alone after losing its standby, until a
     * standby's acknowledged checkpoints hold every output released meanwhile.
     */
    public boolean protectedByStandby() {
        return outputs.protectedByStandby();
    }

    /** The collector checkpoints go to now, or null while there is no stream. */
    public String collector() {
        Placement.Target now = target;
        return now == null ? null : now.address();
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
        join(recorderThread);
        if (inputs != null) {
            try {
                inputs.close();
            } catch (java.io.IOException e) {
                LOG.log(System.Logger.Level.WARNING, "closing the input copy: " + e.getMessage());
            }
        }
        sender.close();
        link.close();
        staging.close();
    }

    // ------------------------------------------------------------------ the link

    /** What the link thread ({@link CollectorLink}) tells this agent, and asks of it. */
    private final class LinkEvents implements CollectorLink.Agent {
        @Override
        public Hello hello() {
            return Agent.this.hello();
        }

        @Override
        public void onMessage(CollectorMessage message, CompletableFuture<Welcome> welcomed) {
            Agent.this.onMessage(message, welcomed);
        }

        @Override
        public void streaming(CollectorStream stream, Welcome welcome, Placement.Target to) {
            target = to;
            sender.encoder().onWelcome(welcome.getPageVersionsAfter());
            Acknowledged confirmed = state.onWelcome(stream, welcome.getCommittedEpoch(),
                    welcome.getFullSyncRequired(), welcome.getLineage(), welcome.getCommittedOutputEnd());
            LOG.log(System.Logger.Level.INFO, "vm {0}: streaming to {1}, standby at epoch {2}{3}", config.vmId(),
                    to.address(), welcome.getCommittedEpoch(),
                    welcome.getFullSyncRequired() ? " (full sync required)" : "");
            if (recorder != null) {
                recorder.welcomed(link.eventLog(), welcome.getEventLogEnd());
            }
            acknowledged(confirmed);
            publish();
        }

        @Override
        public void streamEnded() {
            target = null;
            lease.revoke();
            outputs.standbyGone();
            outputs.leaseChanged();
            state.onDisconnect();
        }

        @Override
        public void alone(long epoch, boolean fenced) {
            fencingEpoch = epoch;
            ackedWhenAlone = state.acked();
            unprotected = true;
            outputs.goAlone(epoch);
            metrics.wentAlone.increment();
            lastAloneLogNanos = System.nanoTime();
            publish();
        }

        @Override
        public boolean isAlone() {
            return outputs.alone();
        }

        @Override
        public long fencingEpoch() {
            return fencingEpoch;
        }

        @Override
        public Duration grantedLease() {
            return grantedLease;
        }

        @Override
        public void granted(LeaseGrant grant) {
            grantedLease = Duration.ofNanos(grant.getValidMicros() * 1000);
            lease.granted(grant.getSequence(), grant.getValidMicros());
            outputs.leaseChanged();
            checkProtectedAgain();
        }

        @Override
        public boolean awaitingAcks() {
            return state.inFlight() > 0;
        }

        @Override
        public void refused(Status why) {
            shutdown(why);
        }

        @Override
        public boolean logsInputs() {
            return recorder != null;
        }

        @Override
        public void inputsJournaled(EventLogAck ack) {
            if (ack.getEnd() > 0) {
                recorder.acked(ack.getEnd());
            }
            recorder.compared(ack.getComparedOutputEnd(), ack.getLockstepUnavailable());
        }

        @Override
        public void eventLogReady() {
            recorder.wake();
        }
    }

    /**
     * Once the acknowledgements of a standby that holds this primary's state again cover every output released
     * alone, this primary is protected again. (Output waits for that standby from the first stun with an empty
     * pipeline after its first acknowledgement and lease: {@link OutputGate#standbyReady}.)
     */
    private void checkProtectedAgain() {
        if (unprotected && outputs.protectedByStandby()) {
            unprotected = false;
            Placement.Target now = target;
            LOG.log(System.Logger.Level.INFO, "vm {0}: protected again by {1} (standby at epoch {2})", config.vmId(),
                    now == null ? "a collector" : now.address(), state.acked());
            publish();
        }
    }

    /** Tells the authority (if there is one) where this primary stands, for {@code cpstream status}. */
    private void publish() {
        Placement.Target now = target;
        failover.publish(new Primaries.Primary(config.vmId(), agentId, now == null ? "" : now.address(),
                outputs.protectedByStandby(), fencingEpoch, System.currentTimeMillis()));
    }

    private void onMessage(CollectorMessage message, CompletableFuture<Welcome> welcomed) {
        switch (message.getBodyCase()) {
            case WELCOME -> welcomed.complete(message.getWelcome());
            case ACK -> {
                long epoch = message.getAck().getEpoch();
                if (epoch > ackedWhenAlone) {
                    // Before the ack frees room in the pipeline: the epoch loop must see the standby ready and let
                    // the pipeline drain, not take a checkpoint into the room this ack makes (OutputGate.standbyReady).
                    // Its lease may come a moment later: the switch itself waits for one.
                    outputs.standbyReady();
                }
                acknowledged(state.onAck(epoch));
                checkProtectedAgain();
            }
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
            case FEEDBACK -> sender.encoder().onFeedback(message.getFeedback());
            case BODY_NOT_SET -> {
            }
        }
    }

    /** Renews the lease while a stream is up; each grant comes back on the Lease call ({@link LinkEvents#granted}). */
    private void heartbeats() {
        long interval = config.heartbeatInterval().toNanos();
        long nextPublish = System.nanoTime();
        while (running) {
            if (outputs.alone() && System.nanoTime() - lastAloneLogNanos > TimeUnit.MINUTES.toNanos(1)) {
                lastAloneLogNanos = System.nanoTime();
                LOG.log(System.Logger.Level.WARNING, "vm {0}: running UNPROTECTED: no standby holds this primary''s "
                        + "state (fencing epoch {1})", config.vmId(), fencingEpoch);
            }
            if (System.nanoTime() - nextPublish >= 0) {
                nextPublish = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
                publish();
            }
            if (link.current() != null) {
                // On the Lease call's own connection: never behind page data, never blocking this loop.
                if (!link.heartbeat(lease.heartbeatSent())) {
                    metrics.heartbeatsSkipped.increment();
                }
            }
            java.util.concurrent.locks.LockSupport.parkNanos(interval);
        }
    }

    private static OutputSink openSink(String spec, io.cpstream.security.TlsSettings tls) {
        try {
            return OutputSinks.open(spec, tls);
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
        if (recorder != null) {
            recorder.checkpointAcked(acknowledged.epoch());
        }
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
                .setFencingEpoch(fencingEpoch)
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
        if (recorder != null) {
            recorder.stop();
        }
        if (recorderThread != null) {
            recorderThread.interrupt();
        }
        outputs.stop();
        link.stop();
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
