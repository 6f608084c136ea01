package io.cpstream.collector;

import io.cpstream.security.ClientText;
import io.cpstream.collector.store.EventJournal;

import io.cpstream.collector.lease.LeaseAuthority;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.EventLogAck;
import io.cpstream.proto.EventLogChunk;
import io.cpstream.proto.Heartbeat;
import io.cpstream.proto.Hello;
import io.cpstream.proto.LeaseGrant;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmStatus;
import io.cpstream.proto.Welcome;
import io.cpstream.security.Identity;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * One protected VM on this collector: the stream feeding it, and the parts that do the work, each behind this
 * one lock: {@link CheckpointIntake} (the checkpoints of the stream, a state machine), {@link VersionedImage}
 * (page versions and decoding), {@link Promoter} and {@link StandbyStatus}; {@link PrimaryLiveness} (lease and
 * silence) has a lock of its own, so heartbeats never wait for a commit. Calls to the lease authority (ZooKeeper: remote I/O) are made between two holds of the
 * lock, never under it, and what they answered is checked again against the state they return to.
 */
final class Standby {

    private static final System.Logger LOG = System.getLogger(Standby.class.getName());

    private final String vm;
    private final ImageStore store;
    private final String collectorId;
    private final LeaseAuthority leases;
    private final CheckpointIntake intake;
    private final PrimaryLiveness liveness;
    private final Promoter promoter;
    private final CollectorMetrics metrics;
    private final long guestBytes;
    /** Record/replay protection: the inputs the primary's guest got since its committed checkpoint. */
    private final EventJournal events;
    /** Where this VM's lockstep secondary comes from, if its primary asks for one. */
    private final LockstepPool lockstepPool;
    /**
     * The lockstep secondary (quasi-lockstep protection), or null. Set on the first chunk asking for it, under the
     * event journal's lock; read at commits under this standby's.
     */
    private volatile LockstepSecondary lockstep;
    /** Why the primary asked for a secondary and got none; null if it did not ask or got one. */
    private volatile String lockstepRefusal;
    /** Volatile for {@link #connected()}; written only under this standby's monitor. */
    private volatile ReplicationStream owner;
    /** Who the attached stream's certificate says it is; only that peer renews the lease. */
    private volatile Identity ownerPeer;
    private String agentId = "";
    /** Set by a deletion: nothing attaches any more, the standby is going away. */
    private boolean retired;
    /** Serialises promotions of this VM; held across the authority's raise, unlike the standby's lock. */
    private final Object promotion = new Object();
    /** While a promotion raises the fencing epoch: no stream may attach. */
    private boolean promoting;

    private Standby(String vm, ImageStore store, Path snapshots, String collectorId, Duration lease,
                    LeaseAuthority leases, CollectorMetrics metrics, LockstepPool lockstepPool) {
        this.vm = vm;
        this.lockstepPool = lockstepPool;
        try {
            this.events = EventJournal.open(store.directory(), store.durability());
        } catch (IOException e) {
            throw new UncheckedIOException("opening the event journal of vm " + vm, e);
        }
        this.store = store;
        this.collectorId = collectorId;
        this.leases = leases;
        this.metrics = metrics;
        this.intake = new CheckpointIntake(vm, store, new VersionedImage(store), metrics);
        this.liveness = new PrimaryLiveness(lease.toNanos());
        this.promoter = new Promoter(vm, store, snapshots);
        this.guestBytes = store.manifest().pageCount() * store.manifest().pageSize();
    }

    /** A standby over {@code store}, with its meters registered and its fencing epoch watched at the authority. */
    static Standby open(String vm, ImageStore store, Path snapshots, String collectorId, Duration lease,
                        LeaseAuthority leases, MeterRegistry registry, LockstepPool lockstepPool) {
        Standby standby = new Standby(vm, store, snapshots, collectorId, lease, leases, new CollectorMetrics(registry, vm),
                lockstepPool);
        standby.metrics.registerGauges(registry, vm, standby);
        leases.watch(vm, standby::raisedElsewhere);
        return standby;
    }

    String vm() {
        return vm;
    }

    /** Makes {@code stream} the one feeding this VM and says where the standby stands. */
    Welcome attach(Hello hello, ReplicationStream stream) throws StandbyException {
        long local;
        synchronized (this) {
            Admission.requireGeometry(vm, store, hello);
            // The collector's own record, never the Hello's: the authority issues fencing epochs (I6).
            local = store.manifest().fencingEpoch();
        }
        long authoritative = Admission.authoritativeEpoch(leases, vm, local);
        synchronized (this) {
            if (promoting || retired) {
                throw StandbyException.retryLater("vm " + vm + " is being " + (retired ? "deleted" : "promoted"), null);
            }
            if (owner != null && owner != stream && !owner.peer().samePeer(stream.peer())
                    && liveness.remainingNanos() > 0) {
                // Taking over a VM whose primary holds a lease is for that primary alone (reconnecting).
                throw StandbyException.retryLater("vm " + vm + " is held by " + owner.peer() + " under a running "
                        + "lease; another agent may take it over only once that lease ran out", null);
            }
            Admission.admit(vm, store, hello, authoritative);
            if (owner != null && owner != stream) {
                owner.close(StandbyException.lostRace("replaced by a newer stream from agent "
                        + ClientText.quote(hello.getAgentId())));
            }
            owner = stream;
            ownerPeer = stream.peer();
            agentId = hello.getAgentId();
            intake.restart(hello.getLineage(), stream::send);
            intake.finishPendingApply();
            PrimaryLiveness.Terms terms = liveness.open(store.manifest().fencingEpoch(), agentId);
            LOG.log(System.Logger.Level.INFO, "vm {0}: agent {1} ({3}) attached; standby at epoch {2}", vm,
                    ClientText.quote(agentId),
                    store.manifest().committedEpoch(), stream.peer());
            return Admission.welcome(store, collectorId, intake.versionsKnownAfter()).toBuilder()
                    .setLeaseToken(terms.token()).setEventLogEnd(events.end()).build();
        }
    }

    /**
     * One message of the owning stream; returns the answer to send, or null. Messages of a stream that no longer
     * owns the VM (replaced, fenced) are ignored: its status was already sent.
     */
    CollectorMessage handle(ReplicationStream stream, AgentMessage message) throws StandbyException {
        synchronized (this) {
            if (owner != stream) {
                return null;
            }
            liveness.heard();
            long committed = store.manifest().committedEpoch();
            CollectorMessage answer = intake.accept(message);
            LockstepSecondary secondary = lockstep;
            if (secondary != null && store.manifest().committedEpoch() != committed && !store.applyPending()) {
                secondary.committed(store);
            }
            return answer;
        }
    }

    /**
     * Journals one chunk of the primary's input log (record/replay protection) and returns its acknowledgement. Never
     * takes the standby's lock, so an input waits for no checkpoint's journal and apply. The chunk must present the
     * token of the attached stream, from that stream's peer. The token is checked and the chunk appended under the
     * journal's lock, so a chunk is acknowledged only if it is in every copy of the log taken afterwards: a promotion
     * suspends the token first and then copies the log ({@link Promoter#freeze}), and an attach changes the token
     * first and then reads where the journal ends (its Welcome's {@code event_log_end}).
     */
    EventLogAck journalEvents(EventLogChunk chunk, Identity peer, Consumer<EventLogAck> replyTo)
            throws StandbyException {
        Identity holder = ownerPeer;
        if (holder == null || !holder.samePeer(peer)) {
            throw notAttached();
        }
        synchronized (events) {
            if (liveness.presentedBy(chunk.getLeaseToken()) == null) {
                throw notAttached();
            }
            EventLogAck ack = EventIntake.accept(vm, events, chunk);
            liveness.heard();
            return chunk.getLockstep() ? compareInLockstep(chunk, ack, replyTo) : withoutLockstep(ack);
        }
    }

    /**
     * Quasi-lockstep: hands the journaled chunk to this VM's secondary (started on the first such chunk, if the
     * collector can run one) and adds where comparing stands to the acknowledgement. Under the journal's lock.
     */
    private EventLogAck compareInLockstep(EventLogChunk chunk, EventLogAck ack, Consumer<EventLogAck> replyTo) {
        LockstepSecondary secondary = lockstep;
        if (secondary == null && lockstepRefusal == null) {
            LockstepPool.Granted granted = lockstepPool.open(vm, store.manifest().sourceKind(), events, metrics);
            secondary = granted.secondary();
            lockstep = secondary;
            lockstepRefusal = granted.refusal();
            if (secondary == null) {
                LOG.log(System.Logger.Level.WARNING, "vm {0}: its primary asks for lockstep, but {1}", vm,
                        granted.refusal());
            }
        }
        if (secondary == null) {
            return ack.toBuilder().setLockstepUnavailable(lockstepRefusal).build();
        }
        secondary.journaled(chunk, replyTo);
        return ack.toBuilder().setComparedOutputEnd(secondary.comparedEnd())
                .setLockstepUnavailable(secondary.unavailable()).build();
    }

    /** A primary that stopped asking for lockstep (it restarted with another protection) frees its secondary. */
    private EventLogAck withoutLockstep(EventLogAck ack) {
        lockstepRefusal = null;
        closeLockstep();
        return ack;
    }

    private void closeLockstep() {
        LockstepSecondary secondary = lockstep;
        lockstep = null;
        if (secondary != null) {
            secondary.close();
        }
    }

    private StandbyException notAttached() {
        return StandbyException.retryLater("vm " + vm + ": the stream this event log belongs to is not attached "
                + "(it ended, was replaced, or the VM is being promoted)", null);
    }

    /**
     * Renews the primary's lease for a heartbeat of the Lease call, or returns null: the heartbeat does not present
     * the token of the attached stream, or the VM is being promoted or was fenced, or the authority says the
     * primary must not act. Never takes the standby's lock (a commit may hold it for a while), so a busy standby
     * still answers within a heartbeat.
     */
    LeaseGrant renew(Heartbeat heartbeat, Identity peer) {
        Identity holder = ownerPeer;
        if (holder == null || !holder.samePeer(peer)) {
            return null;
        }
        PrimaryLiveness.Terms terms = liveness.presentedBy(heartbeat.getLeaseToken());
        if (terms == null) {
            return null;
        }
        if (!leases.mayGrant(vm, terms.fencingEpoch(), terms.holder())) {
            return null;
        }
        LeaseGrant grant = liveness.grant(heartbeat, terms);
        if (grant == null && liveness.remainingNanos() == 0) {
            // The stream detached (or a promotion began) between the authority's yes and the grant. The lease the
            // authority recorded for this collector must not outlive that: with no grant here, nothing would ever
            // see it run out and release it, and no other collector could grant this VM's lease again.
            leases.released(vm);
        }
        return grant;
    }

    synchronized void detach(ReplicationStream stream) {
        if (owner == stream) {
            owner = null;
            ownerPeer = null;
            liveness.close();
            intake.drop();
            LOG.log(System.Logger.Level.INFO, "vm {0}: agent {1} detached at epoch {2}", vm, ClientText.quote(agentId),
                    store.manifest().committedEpoch());
        }
    }

    void countProtocolError() {
        metrics.protocolErrors.increment();
    }

    /**
     * Promotes the standby (see {@link Promoter}). Promotions of one VM run one at a time, under a lock of their own,
     * so the standby's lock is never held while the authority raises the epoch; a second one finds the first done.
     */
    PromoteResponse promote(boolean force) throws StandbyException {
        synchronized (promotion) {
            // No grant from here on: the lease read next is the last one the primary may hold.
            PrimaryLiveness.Terms suspended = liveness.suspend();
            long leaseLeft = leaseRemainingNanos();
            boolean heldElsewhere = leaseLeft == 0 && leases.heldElsewhere(vm);
            long fencing;
            synchronized (this) {
                try {
                    intake.finishPendingApply();
                    promoter.check(force, leaseLeft, heldElsewhere, agentId, owner != null);
                } catch (StandbyException | RuntimeException refused) {
                    liveness.resume(suspended); // nothing changed: the primary may renew again
                    throw refused;
                }
                // No checkpoint may commit while the authority raises the epoch: the promoted image is this one.
                promoting = true;
                closeOwner(StandbyException.retryLater("vm " + vm + " is being promoted", null));
                fencing = store.manifest().fencingEpoch();
            }
            try {
                long raised = Admission.raise(leases, vm, fencing);
                synchronized (this) {
                    closeLockstep(); // the promoted VM runs from the snapshot; nothing is compared any more
                    PromoteResponse response = promoter.freeze(raised, leaseLeft, events);
                    metrics.promotions.increment();
                    return response;
                }
            } finally {
                synchronized (this) {
                    promoting = false;
                }
            }
        }
    }

    /**
     * Another collector promoted this VM: refuse its old primary here too. The manifest keeps the epoch of the
     * primary that fed this standby, so promoting this (now stale) standby later fails: it would fork the history.
     */
    synchronized void raisedElsewhere(long epoch) {
        if (epoch <= store.manifest().fencingEpoch()) {
            return;
        }
        liveness.revoke();
        if (owner != null) {
            LOG.log(System.Logger.Level.WARNING, "vm {0}: promoted elsewhere (fencing epoch {1}); fencing the primary "
                    + "streaming here", vm, epoch);
            closeOwner(StandbyException.fenced(vm, "was promoted by another collector (fencing epoch " + epoch + ")"));
        }
    }

    /**
     * Stops this standby for good before its deletion: refused while its primary streams here or holds a lease,
     * unless {@code force}; the stream is cut, nothing attaches afterwards, the store is closed. Returns its
     * committed epoch.
     */
    long retire(boolean force) throws StandbyException {
        long leaseLeft = leaseRemainingNanos();
        synchronized (this) {
            if (retired) {
                throw StandbyException.notFound("vm " + vm + " is being deleted");
            }
            if (!force && (owner != null || leaseLeft > 0)) {
                throw StandbyException.precondition("vm " + vm + " has " + (owner != null ? "its agent streaming"
                        : "a primary holding its lease") + "; stop the agent first, or delete with force");
            }
            if (promoting) {
                throw StandbyException.retryLater("vm " + vm + " is being promoted", null);
            }
            retired = true;
            closeOwner(StandbyException.fenced(vm, "was deleted from this collector"));
            closeLockstep();
            long committed = store.manifest().committedEpoch();
            try {
                events.close();
                store.close();
            } catch (IOException e) {
                throw StandbyException.storage("closing the standby of vm " + vm, e);
            }
            return committed;
        }
    }

    synchronized boolean retired() {
        return retired;
    }

    VmStatus status() {
        long leaseLeft = leaseRemainingNanos();
        synchronized (this) {
            return StandbyStatus.of(vm, store, intake, liveness, agentId, owner != null, leaseLeft, events,
                    lockstepView());
        }
    }

    /** The lockstep secondary as operators see it; null when the primary does not ask for one. */
    private LockstepSecondary.View lockstepView() {
        LockstepSecondary secondary = lockstep;
        if (secondary != null) {
            return secondary.view();
        }
        String refusal = lockstepRefusal;
        return refusal == null ? null : new LockstepSecondary.View("unavailable: " + refusal, 0, 0, 0, 0, 0, -1);
    }

    /**
     * How long the primary's last grant still lets it act; 0 when it holds none. A lease seen to have run out is
     * released at the authority before this returns: whoever reads 0 must find the lease free everywhere.
     */
    long leaseRemainingNanos() {
        long left;
        boolean expired;
        synchronized (this) {
            left = liveness.remainingNanos();
            expired = liveness.takeExpiry();
        }
        if (expired) {
            leases.released(vm);
        }
        return left;
    }

    /** The guest's size as the standby was created with; fixed for its life. */
    long guestBytes() {
        return guestBytes;
    }

    // Read without this standby's monitor: the manifest is immutable and replaced whole, the owner a volatile reference,
    // so a metrics scrape never waits behind a commit holding the monitor (with many VMs, it waited behind many).

    long committedEpoch() {
        return store.manifest().committedEpoch();
    }

    long fencingEpoch() {
        return store.manifest().fencingEpoch();
    }

    /** Bytes of inputs the event journal holds (record/replay protection; 0 otherwise). */
    long eventLogBytes() {
        return events.bytes();
    }

    /** This standby's pages in the collector's shared page store (a pass over its page map, at most once a second). */
    ImageStore.SharingStats sharing() {
        return store.sharing();
    }

    long lagMillis() {
        return StandbyStatus.lagMillis(store.manifest());
    }

    boolean connected() {
        return owner != null;
    }

    synchronized void close() {
        closeLockstep();
        try {
            events.close();
            store.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void closeOwner(StandbyException why) {
        liveness.close();
        if (owner != null) {
            owner.close(why);
            owner = null;
            ownerPeer = null;
        }
        intake.drop();
    }
}
