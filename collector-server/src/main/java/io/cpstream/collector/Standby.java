package io.cpstream.collector;

import com.google.protobuf.ByteString;
import io.cpstream.collector.lease.LeaseAuthority;
import io.cpstream.snapshot.CommittedOutputs;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.snapshot.Snapshots;
import io.cpstream.collector.store.StandbyManifest;
import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.DeltaCandidateClassifier;
import io.cpstream.encoder.DeltaFeedback;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.encoder.PageDecoder;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.encoder.ReceiverPages;
import io.cpstream.proto.Ack;
import io.cpstream.proto.CheckpointBegin;
import io.cpstream.proto.CheckpointCommit;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.DeviceState;
import io.cpstream.proto.Heartbeat;
import io.cpstream.proto.Feedback;
import io.cpstream.proto.Hello;
import io.cpstream.proto.LeaseGrant;
import io.cpstream.proto.Page;
import io.cpstream.proto.PageBatch;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.Resync;
import io.cpstream.proto.VmState;
import io.cpstream.proto.VmStatus;
import io.cpstream.proto.Welcome;
import io.grpc.Status;
import io.grpc.StatusException;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One protected VM on this collector: its image store, the stream currently feeding it, and the
 * checkpoint being staged. Every message is checked against what the standby holds before it can
 * touch anything (invariant I5), and a checkpoint reaches the image only whole (I1).
 *
 * <p>All methods are synchronized: streams, the admin API and metrics reach it from different threads.
 */
final class Standby {

    private static final System.Logger LOG = System.getLogger(Standby.class.getName());
    static final int MAX_DEVICE_STATE_BYTES = 16 << 20;

    private final String vm;
    private final ImageStore store;
    private final String collectorId;
    private final CollectorMetrics metrics;
    private final PageDecoder decoder;
    private final MemorySegment scratch;
    private final long leaseNanos;
    private final LeaseAuthority leases;
    /**
     * The epoch that last wrote each page of the committed image, as far as this collector process saw it; 0 when
     * it does not know (written before it started). A DELTA applies only against exactly the version named.
     */
    private final long[] pageVersions;
    /** Versions are known only for pages written after this epoch (Welcome.page_versions_after). */
    private long pageVersionsAfter;
    private final CommittedPages committedPages = new CommittedPages();
    private final DeltaCandidateClassifier classifier;
    private final DeltaFeedback feedback;

    private ReplicationStream owner;
    private String agentId = "";
    /** Lineage of the guest the attached agent protects. */
    private String streamLineage = "";
    /** The checkpoint being staged, or null. */
    private Staging staging;
    /** A checkpoint the collector is discarding (stale base, or aborted), or 0. */
    private long skippingEpoch;
    /** A resync was sent and no checkpoint on the right base has arrived since. */
    private boolean resyncOutstanding;
    private boolean committedOnThisConnection;
    private long epochsCommitted;
    private long pagesReceived;
    private long wireBytesReceived;
    private long lastCommitUnixMicros;
    /** Until when (System.nanoTime) the last grant lets the primary act; it counts from the send, we from receipt. */
    private long leaseUntilNanos;
    private boolean leaseGranted;
    private long lastHeardNanos;
    private boolean heardAny;
    /** How long the primary was stunned for the newest epoch committed here; 0 if unknown. */
    private long lastStunMicros;

    /** What has arrived of the checkpoint being staged. */
    private static final class Staging {
        final long epoch;
        final boolean full;
        final long declaredPages;
        final long stunUnixMicros;
        long stunMicros;
        final BitSet seen;
        long received;

        Staging(long epoch, boolean full, long declaredPages, long stunUnixMicros, int pageCount) {
            this.epoch = epoch;
            this.full = full;
            this.declaredPages = declaredPages;
            this.stunUnixMicros = stunUnixMicros;
            this.seen = new BitSet(pageCount);
        }
    }

    Standby(String vm, ImageStore store, String collectorId, Duration lease, LeaseAuthority leases,
            MeterRegistry registry) {
        this.vm = vm;
        this.leases = leases;
        leases.watch(vm, this::raisedElsewhere);
        this.leaseNanos = lease.toNanos();
        this.store = store;
        this.collectorId = collectorId;
        this.decoder = new PageDecoder(store.manifest().pageSize());
        this.scratch = MemorySegment.ofArray(new byte[store.manifest().pageSize()]);
        this.pageVersions = new long[Math.toIntExact(store.manifest().pageCount())];
        this.pageVersionsAfter = store.manifest().committedEpoch();
        this.classifier = new DeltaCandidateClassifier(store.manifest().pageSize());
        this.feedback = new DeltaFeedback(store.manifest().pageCount());
        this.metrics = new CollectorMetrics(registry, vm, this);
    }

    /** What DELTA and DUPLICATE records refer to: the committed image (a checkpoint applies only at commit). */
    private final class CommittedPages implements ReceiverPages {
        @Override
        public MemorySegment page(long index) {
            int pageSize = store.manifest().pageSize();
            return index >= 0 && index < pageVersions.length
                    ? store.image().asSlice(index * pageSize, pageSize) : null;
        }

        @Override
        public long version(long index) {
            return index >= 0 && index < pageVersions.length ? pageVersions[(int) index] : 0;
        }
    }

    // ------------------------------------------------------------------ stream lifecycle

    /** Makes {@code stream} the one feeding this VM and says where the standby stands. */
    synchronized Welcome attach(Hello hello, ReplicationStream stream) throws StatusException {
        StandbyManifest manifest = store.manifest();
        if (manifest.promoted()) {
            if (hello.getFencingEpoch() < manifest.fencingEpoch()) {
                throw fenced("was promoted at epoch " + manifest.committedEpoch());
            }
            // The promoted VM's new primary (it presents the promotion's fencing epoch) asks to be
            // protected here again: a new reign starts with a full sync; the snapshot stays on disk.
            try {
                manifest = manifest.withReprotection();
                store.updateManifest(manifest);
            } catch (IOException e) {
                throw internal("re-protecting vm " + vm, e);
            }
            LOG.log(System.Logger.Level.INFO, "vm {0}: re-protecting its promoted primary (fencing epoch {1})", vm,
                    hello.getFencingEpoch());
        }
        if (hello.getPageSize() != manifest.pageSize() || hello.getPageCount() != manifest.pageCount()) {
            throw Status.FAILED_PRECONDITION.withDescription(String.format(
                    "vm %s has a standby of %d pages of %d bytes here, the agent has %d pages of %d bytes; "
                            + "use another --vm, or remove %s on the collector to start over",
                    vm, manifest.pageCount(), manifest.pageSize(), hello.getPageCount(), hello.getPageSize(),
                    store.directory())).asException();
        }
        long authoritative;
        try {
            authoritative = leases.fencingEpoch(vm, Math.max(manifest.fencingEpoch(), hello.getFencingEpoch()));
        } catch (LeaseAuthority.LeaseException e) {
            throw Status.UNAVAILABLE.withDescription("vm " + vm + ": cannot consult the lease authority ("
                    + leases + "): " + e.getMessage()).asException();
        }
        if (hello.getFencingEpoch() < authoritative) {
            throw fenced("has fencing epoch " + authoritative + " and the agent presented "
                    + hello.getFencingEpoch());
        }
        try {
            StandbyManifest next = manifest;
            if (hello.getFencingEpoch() > manifest.fencingEpoch()) {
                next = next.withFencingEpoch(hello.getFencingEpoch());
            }
            if (!hello.getSource().getKind().equals(String.valueOf(manifest.sourceKind()))
                    || !hello.getSource().getParamsMap().equals(manifest.sourceParams())) {
                next = next.withSource(hello.getSource().getKind(), new HashMap<>(hello.getSource().getParamsMap()));
            }
            if (next != manifest) {
                store.updateManifest(next);
            }
        } catch (IOException e) {
            throw internal("recording the new agent", e);
        }
        if (owner != null && owner != stream) {
            owner.close(Status.ABORTED.withDescription("replaced by a newer stream from agent " + hello.getAgentId()));
        }
        owner = stream;
        agentId = hello.getAgentId();
        streamLineage = hello.getLineage();
        dropStaging();
        skippingEpoch = 0;
        resyncOutstanding = false;
        committedOnThisConnection = false;
        feedback.reset(); // a new stream may be a new agent, which knows no verdicts yet
        LOG.log(System.Logger.Level.INFO, "vm {0}: agent {1} attached; standby at epoch {2}", vm, agentId,
                store.manifest().committedEpoch());
        return Welcome.newBuilder()
                .setCommittedEpoch(store.manifest().committedEpoch())
                .setFencingEpoch(store.manifest().fencingEpoch())
                .setFullSyncRequired(store.manifest().fullSyncRequired())
                .setCollectorId(collectorId)
                .setLineage(store.manifest().lineage())
                .setCommittedOutputEnd(store.manifest().outputs().end())
                .setPageVersionsAfter(pageVersionsAfter)
                .build();
    }

    /** Something arrived from the owning stream: the primary is alive. */
    synchronized void heard() {
        lastHeardNanos = System.nanoTime();
        heardAny = true;
    }

    /**
     * Renews the primary's lease, unless this standby was promoted (the owner is then already closed)
     * or {@code stream} no longer owns it. The primary times the grant from its send, which is earlier
     * than our receipt, so our view of the lease always outlasts its own.
     */
    synchronized CollectorMessage heartbeat(ReplicationStream stream, Heartbeat heartbeat) {
        StandbyManifest manifest = store.manifest();
        if (owner != stream || manifest.promoted() || !leases.mayGrant(vm, manifest.fencingEpoch(), agentId)) {
            return null;
        }
        leaseUntilNanos = System.nanoTime() + leaseNanos;
        leaseGranted = true;
        return CollectorMessage.newBuilder().setLease(LeaseGrant.newBuilder()
                .setSequence(heartbeat.getSequence())
                .setFencingEpoch(manifest.fencingEpoch())
                .setValidMicros(TimeUnit.NANOSECONDS.toMicros(leaseNanos))).build();
    }

    /** Once the primary's lease has run out, tell the authority, so that others may promote without force. */
    synchronized void expireLease() {
        leaseRemainingNanos();
    }

    /**
     * Another collector promoted this VM: refuse its old primary here too. The manifest keeps the epoch
     * of the primary that fed this standby, so promoting this (now stale) standby later fails: it
     * would fork the VM's history.
     */
    private synchronized void raisedElsewhere(long epoch) {
        if (epoch <= store.manifest().fencingEpoch()) {
            return;
        }
        leaseGranted = false;
        if (owner != null) {
            LOG.log(System.Logger.Level.WARNING, "vm {0}: promoted elsewhere (fencing epoch {1}); fencing the primary "
                    + "streaming here", vm, epoch);
            owner.close(fencedStatus("was promoted by another collector (fencing epoch " + epoch + ")"));
            owner = null;
            dropStaging();
        }
    }

    /**
     * How long the primary's last grant still lets it act; 0 when it holds none. A lease seen to have
     * run out is released to the authority right here, not at the keeper's next pass: whoever reads 0
     * (status, promote on another collector) must find the lease free everywhere, not still held.
     */
    synchronized long leaseRemainingNanos() {
        if (!leaseGranted) {
            return 0;
        }
        long left = leaseUntilNanos - System.nanoTime();
        if (left > 0) {
            return left;
        }
        leaseGranted = false;
        leases.released(vm);
        return 0;
    }

    String vm() {
        return vm;
    }

    /**
     * True when the automatic policy may promote: the primary was heard since this collector started,
     * has been silent at least {@code silenceNanos}, holds no lease, and a complete epoch is committed.
     */
    synchronized boolean dueForAutomaticPromotion(long silenceNanos) {
        StandbyManifest manifest = store.manifest();
        return heardAny && !manifest.promoted() && !manifest.fullSyncRequired() && manifest.committedEpoch() > 0
                && silentNanos() >= silenceNanos && leaseRemainingNanos() == 0;
    }

    /** How long the primary has been silent, or -1 if it never spoke since this collector started. */
    synchronized long silentNanos() {
        return heardAny ? System.nanoTime() - lastHeardNanos : -1;
    }

    synchronized void detach(ReplicationStream stream) {
        if (owner == stream) {
            owner = null;
            dropStaging();
            LOG.log(System.Logger.Level.INFO, "vm {0}: agent {1} detached at epoch {2}", vm, agentId,
                    store.manifest().committedEpoch());
        }
    }

    synchronized boolean isOwner(ReplicationStream stream) {
        return owner == stream;
    }

    void countProtocolError() {
        metrics.protocolErrors.increment();
    }

    // ------------------------------------------------------------------ one checkpoint

    synchronized void begin(CheckpointBegin begin) throws StatusException {
        StandbyManifest manifest = store.manifest();
        if (staging != null) {
            throw invalid("begin of epoch " + begin.getEpoch() + " while epoch " + staging.epoch + " is open");
        }
        long committed = manifest.committedEpoch();
        if (begin.getEpoch() <= committed) {
            throw invalid("epoch " + begin.getEpoch() + " is not after the committed epoch " + committed);
        }
        if (begin.getPageCount() > manifest.pageCount()) {
            throw invalid("epoch " + begin.getEpoch() + " announces " + begin.getPageCount()
                    + " pages; the guest has " + manifest.pageCount());
        }
        boolean sameGuest = streamLineage.equals(manifest.lineage());
        boolean usableBase = begin.getFull()
                || (!manifest.fullSyncRequired() && sameGuest && begin.getBaseEpoch() == committed);
        if (!usableBase) {
            // Pipelined after a checkpoint that was dropped, or the agent's view is stale: discard it
            // whole and, once, tell the agent what the standby holds.
            skippingEpoch = begin.getEpoch();
            if (!resyncOutstanding) {
                requestResync(begin.getEpoch(), List.of(), manifest.fullSyncRequired() || !sameGuest,
                        "checkpoint " + begin.getEpoch() + " applies on epoch " + begin.getBaseEpoch()
                                + " but the standby holds epoch " + committed
                                + (manifest.fullSyncRequired() || !sameGuest ? " and needs a full sync" : ""));
            }
            return;
        }
        skippingEpoch = 0;
        resyncOutstanding = false;
        try {
            if (begin.getFull() && !sameGuest) {
                store.updateManifest(manifest.withNewLineage(streamLineage));
            }
            store.begin(begin.getEpoch(), begin.getBaseEpoch(), begin.getFull(), begin.getStunUnixMicros());
        } catch (IOException e) {
            throw internal("starting the journal of epoch " + begin.getEpoch(), e);
        }
        staging = new Staging(begin.getEpoch(), begin.getFull(), begin.getPageCount(), begin.getStunUnixMicros(),
                (int) manifest.pageCount());
        staging.stunMicros = begin.getStunMicros();
    }

    synchronized void pages(PageBatch batch) throws StatusException {
        if (skipping(batch.getEpoch())) {
            return;
        }
        Staging open = requireStaging(batch.getEpoch(), "page batch");
        long pageCount = store.manifest().pageCount();
        long payload = 0;
        try {
            for (Page page : batch.getPagesList()) {
                long index = page.getIndex();
                if (index >= pageCount) {
                    throw invalid("epoch " + open.epoch + " carries page " + index + "; the guest has " + pageCount);
                }
                if (open.seen.get((int) index)) {
                    throw invalid("epoch " + open.epoch + " carries page " + index + " twice");
                }
                if (open.received >= open.declaredPages) {
                    throw invalid("epoch " + open.epoch + " carries more than the " + open.declaredPages
                            + " pages it announced");
                }
                PageEncoding encoding;
                try {
                    encoding = encodingOf(page);
                    if (open.full && (encoding == PageEncoding.DELTA || encoding == PageEncoding.DUPLICATE)) {
                        throw new CorruptPageException(CorruptPageException.Reason.BASE_NOT_HELD, encoding
                                + " record in a full checkpoint, which must not depend on what the standby holds");
                    }
                    decoder.decode(index, encoding, page.getData().asReadOnlyByteBuffer(), page.getCrc32C(),
                            page.getBaseVersion(), page.getSourceIndex(), committedPages, scratch);
                } catch (CorruptPageException e) {
                    metrics.pageRejected(e.reason());
                    LOG.log(System.Logger.Level.WARNING, "vm {0}: page {1} of epoch {2} rejected, asking for it "
                            + "whole: {3}", vm, index, open.epoch, e.getMessage());
                    abortWithResync(List.of(index), "page " + index + " of epoch " + open.epoch + ": "
                            + e.getMessage());
                    return;
                }
                metrics.pageDecoded(encoding);
                if (!open.full && pageVersions[(int) index] > 0) {
                    // How this page changed since the version the collector holds says whether a delta of it pays:
                    // a DELTA record tells without a second pass; a page known to be rewritten wholesale is
                    // compared again only now and then.
                    if (encoding == PageEncoding.DELTA) {
                        feedback.note(index, classifier.classifyDelta(decoder.lastDeltaRunBytes()));
                    } else if (feedback.worthClassifying(index)) {
                        feedback.note(index, classifier.classify(committedPages.page(index), scratch));
                    }
                }
                store.stagePage((int) index, scratch);
                open.seen.set((int) index);
                open.received++;
                payload += page.getData().size();
            }
        } catch (IOException e) {
            throw internal("staging epoch " + open.epoch, e);
        }
        pagesReceived += batch.getPagesCount();
        wireBytesReceived += payload;
        metrics.pagesReceived.increment(batch.getPagesCount());
        metrics.wireBytesReceived.increment(payload);
    }

    synchronized void deviceState(DeviceState state) throws StatusException {
        if (skipping(state.getEpoch())) {
            return;
        }
        Staging open = requireStaging(state.getEpoch(), "device state");
        if (state.getState().size() > MAX_DEVICE_STATE_BYTES) {
            throw invalid("device state of " + state.getState().size() + " bytes exceeds " + MAX_DEVICE_STATE_BYTES);
        }
        try {
            store.stageDeviceState(state.getState().toByteArray());
        } catch (IOException e) {
            throw internal("staging the device state of epoch " + open.epoch, e);
        }
    }

    /** Seals, applies and acknowledges the open checkpoint; returns the message for the agent, or null. */
    synchronized CollectorMessage commit(CheckpointCommit commit) throws StatusException {
        if (skipping(commit.getEpoch())) {
            skippingEpoch = 0;
            return null;
        }
        Staging open = requireStaging(commit.getEpoch(), "commit");
        long received = open.received;
        if (commit.getPageCount() != received || received != open.declaredPages) {
            throw invalid("commit of epoch " + open.epoch + " claims " + commit.getPageCount()
                    + " pages; begin announced " + open.declaredPages + " and " + received + " arrived");
        }
        if (open.full && received != store.manifest().pageCount()) {
            throw invalid("full checkpoint " + open.epoch + " carries " + received + " of "
                    + store.manifest().pageCount() + " pages");
        }
        CommittedOutputs outputs;
        try {
            outputs = store.manifest().outputs().advance(commit.getOutputStart(), commit.getOutputEnd(),
                    commit.getOutputsList().stream().map(ByteString::toByteArray).toList(),
                    commit.getReleasedOutputEnd(), open.full);
        } catch (IllegalArgumentException e) {
            dropStaging();
            throw invalid("commit of epoch " + open.epoch + ": " + e.getMessage());
        }
        long started = System.nanoTime();
        StandbyManifest committed;
        try {
            store.stageOutputs(outputs);
            if (!commit.getExpectedImageSha256().isEmpty()) {
                store.stagePrimaryDigest(commit.getExpectedImageSha256().toByteArray());
            }
            committed = store.commit(open.epoch);
        } catch (IOException e) {
            forgetPageVersions(); // the image may be half applied: no delta may rely on it
            throw internal("committing epoch " + open.epoch, e);
        } finally {
            staging = null;
        }
        for (int page = open.seen.nextSetBit(0); page >= 0; page = open.seen.nextSetBit(page + 1)) {
            pageVersions[page] = open.epoch;
        }
        sendFeedback();
        if (!commit.getDeviceStateSha256().isEmpty()
                && !Arrays.equals(commit.getDeviceStateSha256().toByteArray(), ImageDigest.sha256(committed.deviceState()))) {
            return corruptCommit(open.epoch, "device state of epoch " + open.epoch + " differs from the primary's");
        }
        if (!commit.getExpectedImageSha256().isEmpty()) {
            byte[] actual = ImageDigest.sha256(store.image());
            metrics.digestsVerified.increment();
            if (!Arrays.equals(actual, commit.getExpectedImageSha256().toByteArray())) {
                return corruptCommit(open.epoch, "image digest after epoch " + open.epoch + " is "
                        + ImageDigest.hex(actual) + ", the primary's is "
                        + ImageDigest.hex(commit.getExpectedImageSha256().toByteArray()));
            }
        }
        long applyNanos = System.nanoTime() - started;
        long now = nowMicros();
        epochsCommitted++;
        committedOnThisConnection = true;
        lastCommitUnixMicros = now;
        lastStunMicros = open.stunMicros;
        metrics.apply.record(applyNanos, TimeUnit.NANOSECONDS);
        metrics.epochsCommitted.increment();
        metrics.pagesPerEpoch.record(received);
        if (open.stunUnixMicros > 0 && now > open.stunUnixMicros) {
            metrics.commitLag.record(now - open.stunUnixMicros, TimeUnit.MICROSECONDS);
        }
        return CollectorMessage.newBuilder().setAck(Ack.newBuilder()
                .setEpoch(open.epoch)
                .setCommittedUnixMicros(now)
                .setApplyMicros(applyNanos / 1000)).build();
    }

    // ------------------------------------------------------------------ promotion and status

    synchronized PromoteResponse promote(Path snapshots, boolean force) throws StatusException {
        StandbyManifest manifest = store.manifest();
        if (manifest.promoted()) {
            throw Status.ALREADY_EXISTS.withDescription("vm " + vm + " was already promoted at epoch "
                    + manifest.committedEpoch() + "; its snapshot is " + manifest.snapshotPath()).asException();
        }
        if (manifest.committedEpoch() == 0 || manifest.fullSyncRequired()) {
            throw Status.FAILED_PRECONDITION.withDescription("vm " + vm
                    + " has no complete committed epoch to promote yet").asException();
        }
        long leaseLeft = leaseRemainingNanos();
        if (!force && leaseLeft == 0 && leases.heldElsewhere(vm)) {
            throw Status.FAILED_PRECONDITION.withDescription("vm " + vm + ": its primary holds a lease granted by "
                    + "another collector (" + leases + "); promoting now would make two primaries. Stop it, or use "
                    + "--force if you know it is dead").asException();
        }
        if (leaseLeft > 0 && !force) {
            throw Status.FAILED_PRECONDITION.withDescription("vm " + vm + ": its primary (agent " + agentId
                    + ") still holds its lease for " + TimeUnit.NANOSECONDS.toMillis(leaseLeft) + " ms"
                    + (owner != null ? " and is streaming" : "") + "; promoting now would make two primaries. "
                    + "Stop the primary, or wait for its lease to run out, or use --force if you know it is dead")
                    .asException();
        }
        long fencing;
        try {
            // From the epoch of the primary that fed this standby: if anyone raised it since, this
            // standby is from an older reign, and promoting it would fork the VM's history.
            fencing = leases.raise(vm, manifest.fencingEpoch());
        } catch (LeaseAuthority.LeaseException.Lost e) {
            throw Status.ABORTED.withDescription(e.getMessage()).asException();
        } catch (LeaseAuthority.LeaseException e) {
            throw Status.UNAVAILABLE.withDescription("vm " + vm + ": cannot raise its fencing epoch ("
                    + leases + "): " + e.getMessage()).asException();
        }
        dropStaging();
        Path target = snapshots.resolve("epoch-" + manifest.committedEpoch());
        Snapshots.SnapshotManifest snapshot;
        try {
            snapshot = Snapshots.write(target, new Snapshots.Contents(manifest.vm(), manifest.committedEpoch(), fencing,
                    manifest.pageSize(), manifest.pageCount(), manifest.stunUnixMicros(), manifest.sourceKind(),
                    manifest.sourceParams(), manifest.outputs(), store.image(), manifest.deviceState()));
            store.updateManifest(manifest.withPromotion(fencing, target.toString()));
        } catch (IOException e) {
            throw internal("writing the snapshot of epoch " + manifest.committedEpoch(), e);
        }
        if (owner != null) {
            owner.close(fencedStatus("was promoted at epoch " + manifest.committedEpoch()));
            owner = null;
        }
        metrics.promotions.increment();
        LOG.log(System.Logger.Level.INFO, "vm {0}: promoted at epoch {1}, fencing epoch {2}, snapshot {3}", vm,
                manifest.committedEpoch(), fencing, target);
        PromoteResponse.Builder response = PromoteResponse.newBuilder();
        if (manifest.primarySha256() != null) {
            response.setPrimaryImageSha256(ByteString.copyFrom(manifest.primarySha256()));
        }
        return response
                .setVmId(vm)
                .setPromotedEpoch(manifest.committedEpoch())
                .setFencingEpoch(fencing)
                .setSnapshotPath(target.toString())
                .setImageSha256(ByteString.fromHex(snapshot.memorySha256()))
                .setDeviceStateSha256(ByteString.fromHex(snapshot.deviceStateSha256()))
                .setOutputEnd(manifest.outputs().end())
                .setLeaseExpiresInMicros(TimeUnit.NANOSECONDS.toMicros(leaseLeft))
                .build();
    }

    synchronized VmStatus status() {
        StandbyManifest manifest = store.manifest();
        VmState state;
        if (manifest.promoted()) {
            state = VmState.VM_PROMOTED;
        } else if (owner == null) {
            state = VmState.VM_DISCONNECTED;
        } else {
            state = committedOnThisConnection ? VmState.VM_REPLICATING : VmState.VM_SYNCING;
        }
        VmStatus.Builder status = VmStatus.newBuilder()
                .setVmId(vm)
                .setState(state)
                .setCommittedEpoch(manifest.committedEpoch())
                .setFencingEpoch(manifest.fencingEpoch())
                .setLagMs(lagMillis())
                .setPageSize(manifest.pageSize())
                .setPageCount(manifest.pageCount())
                .setAgentId(agentId)
                .setLastCommitUnixMicros(lastCommitUnixMicros)
                .setEpochsCommitted(epochsCommitted)
                .setPagesReceived(pagesReceived)
                .setWireBytesReceived(wireBytesReceived)
                .setOutputEnd(manifest.outputs().end())
                .setLeaseRemainingMs(ceilMillis(leaseRemainingNanos()))
                .setSilentMs(heardAny ? TimeUnit.NANOSECONDS.toMillis(silentNanos()) : -1)
                .setLastStunMicros(lastStunMicros);
        if (manifest.snapshotPath() != null) {
            status.setSnapshotPath(manifest.snapshotPath());
        }
        return status.build();
    }

    synchronized long committedEpoch() {
        return store.manifest().committedEpoch();
    }

    synchronized long fencingEpoch() {
        return store.manifest().fencingEpoch();
    }

    synchronized boolean connected() {
        return owner != null;
    }

    /** How far the standby trails the primary: now minus the stun time of the committed epoch; -1 if none. */
    synchronized long lagMillis() {
        long stun = store.manifest().stunUnixMicros();
        return stun <= 0 ? -1 : Math.max(0, (nowMicros() - stun) / 1000);
    }

    synchronized void close() {
        try {
            store.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------ internals

    private boolean skipping(long epoch) {
        return skippingEpoch != 0 && epoch == skippingEpoch;
    }

    private Staging requireStaging(long epoch, String what) throws StatusException {
        if (staging == null || staging.epoch != epoch) {
            throw invalid(what + " for epoch " + epoch + " but "
                    + (staging == null ? "no checkpoint is open" : "epoch " + staging.epoch + " is open"));
        }
        return staging;
    }

    /** Tells the agent what changed in which pages are worth a delta; only news, so a steady guest costs nothing. */
    private void sendFeedback() {
        if (owner != null && feedback.hasNews()) {
            long[] candidates = feedback.drainCandidates();
            long[] notCandidates = feedback.drainNotCandidates();
            Feedback.Builder message = Feedback.newBuilder();
            for (long page : candidates) {
                message.addDeltaCandidates(page);
            }
            for (long page : notCandidates) {
                message.addNotCandidates(page);
            }
            owner.send(CollectorMessage.newBuilder().setFeedback(message).build());
            metrics.feedbackSent.increment();
        }
    }

    /** From now on, deltas are accepted only against versions this collector sees written. */
    private void forgetPageVersions() {
        java.util.Arrays.fill(pageVersions, 0);
        pageVersionsAfter = store.manifest().committedEpoch();
    }

    private void abortWithResync(List<Long> pages, String reason) {
        long epoch = staging.epoch;
        dropStaging();
        skippingEpoch = epoch;
        requestResync(epoch, pages, false, reason);
    }

    /** The commit went through but does not match the primary: demand a full sync before trusting it. */
    private CollectorMessage corruptCommit(long epoch, String reason) throws StatusException {
        metrics.digestMismatches.increment();
        LOG.log(System.Logger.Level.ERROR, "vm {0}: {1}; a full sync is required", vm, reason);
        try {
            store.updateManifest(store.manifest().withFullSyncRequired());
        } catch (IOException e) {
            throw internal("recording that vm " + vm + " needs a full sync", e);
        }
        requestResync(epoch, List.of(), true, reason);
        return null;
    }

    private void requestResync(long abortedEpoch, List<Long> pages, boolean full, String reason) {
        resyncOutstanding = true;
        metrics.resyncsRequested.increment();
        if (owner != null) {
            owner.send(CollectorMessage.newBuilder().setResync(Resync.newBuilder()
                    .setCommittedEpoch(store.manifest().committedEpoch())
                    .setAbortedEpoch(abortedEpoch)
                    .addAllPages(pages)
                    .setFull(full)
                    .setReason(reason)
                    .setCommittedOutputEnd(store.manifest().outputs().end())).build());
        }
    }

    private void dropStaging() {
        staging = null;
        store.abort();
    }

    private static PageEncoding encodingOf(Page page) throws CorruptPageException {
        return switch (page.getEncoding()) {
            case PAGE_ZERO -> PageEncoding.ZERO;
            case PAGE_FULL -> PageEncoding.FULL;
            case PAGE_LZ4 -> PageEncoding.LZ4;
            case PAGE_DELTA -> PageEncoding.DELTA;
            case PAGE_DUPLICATE -> PageEncoding.DUPLICATE;
            default -> throw new CorruptPageException("page " + page.getIndex() + " has no known encoding ("
                    + page.getEncodingValue() + ")");
        };
    }

    private StatusException fenced(String what) {
        return fencedStatus(what).asException();
    }

    private Status fencedStatus(String what) {
        return Status.FAILED_PRECONDITION.withDescription("fenced: vm " + vm + " " + what
                + "; this primary must not stream or release output any more");
    }

    private static StatusException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asException();
    }

    private StatusException internal(String what, IOException e) {
        LOG.log(System.Logger.Level.ERROR, "vm " + vm + ": " + what + " failed", e);
        return Status.INTERNAL.withDescription(what + " failed on the collector: " + e.getMessage()).withCause(e)
                .asException();
    }

    private static long nowMicros() {
        return TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis());
    }

    /** Rounds up, so that a lease with any time left never reads as 0 ms (which means free). */
    private static long ceilMillis(long nanos) {
        return (nanos + 999_999) / 1_000_000;
    }
}
