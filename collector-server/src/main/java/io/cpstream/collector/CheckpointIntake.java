package io.cpstream.collector;

import io.cpstream.collector.store.ApplyFailedException;
import io.cpstream.collector.store.CommittedState;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.collector.store.StandbyManifest;
import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.proto.Ack;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CheckpointBegin;
import io.cpstream.proto.CheckpointCommit;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.DeviceState;
import io.cpstream.proto.Feedback;
import io.cpstream.proto.OutputBatch;
import io.cpstream.proto.PageBatch;
import io.cpstream.proto.Resync;
import io.cpstream.snapshot.CommittedOutputs;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The checkpoints of one stream, message by message: Begin · PageBatch* · DeviceState+ · OutputBatch* · Commit.
 * A checkpoint applies only on top of the epoch it is based on, from the same guest lineage, and reaches the
 * image only whole (I1); a page that does not verify is never applied (I4), and the agent is asked to resync.
 *
 * <p>The states, and what each message does in each (anything else is a protocol violation: the stream ends):
 * <pre>
 * state        Begin, usable base     Begin, other base         part of the open epoch      its Commit
 * READY        stage  -> STAGING      resync, -> DISCARDING     -                           -
 * STAGING      -                      -                         stage (bad page: resync,    seal, apply, ack
 *                                                                -> DISCARDING)              -> READY
 * DISCARDING   -                      -                         ignore                      -> RESYNCING
 * RESYNCING    stage  -> STAGING      -> DISCARDING (no resync) -                           -
 * </pre>
 * "Usable" is a full checkpoint, or one on the committed epoch of the same lineage while the image can serve as a
 * base. A checkpoint pipelined behind one that was dropped is discarded whole, and the agent asked once, until a
 * checkpoint on the right base arrives. A new stream starts at READY.
 */
final class CheckpointIntake {

    private static final System.Logger LOG = System.getLogger(CheckpointIntake.class.getName());

    enum Phase { READY, STAGING, DISCARDING, RESYNCING }

    /** gRPC's length-prefixed framing: a compressed-flag byte and a 4-byte length before every message. */
    static final int GRPC_MESSAGE_PREFIX_BYTES = 5;

    private final String vm;
    private final ImageStore store;
    private final VersionedImage image;
    private final DeltaAdvisor advisor;
    private final PageColumns columns;
    private final CollectorMetrics metrics;
    private Phase phase = Phase.READY;
    private OpenCheckpoint open;
    private long discarding;
    private String lineage = "";
    private Consumer<CollectorMessage> agent = message -> { };
    private final IntakeCounters counters = new IntakeCounters();

    CheckpointIntake(String vm, ImageStore store, VersionedImage image, CollectorMetrics metrics) {
        this.vm = vm;
        this.store = store;
        this.image = image;
        this.advisor = new DeltaAdvisor(image);
        this.columns = new PageColumns(store.manifest().pageSize(), image.pageCount());
        this.metrics = metrics;
    }

    /** A new stream, from an agent protecting guest {@code streamLineage}, which receives {@code toAgent}. */
    void restart(String streamLineage, Consumer<CollectorMessage> toAgent) {
        drop();
        lineage = streamLineage;
        agent = toAgent;
        counters.newStream();
        advisor.reset(); // a new stream may be a new agent, which knows no verdicts yet
    }

    /** Forgets the checkpoint being staged, if any; the committed standby is untouched. */
    void drop() {
        open = null;
        phase = Phase.READY;
        store.abort();
    }

    /** One message of a checkpoint; returns the answer to send (an Ack), or null. */
    CollectorMessage accept(AgentMessage message) throws StandbyException {
        switch (message.getBodyCase()) {
            case BEGIN, PAGES, COMMIT -> {
                // What the agent counts as its wire bytes (its CheckpointMessages.wireBytes): the serialized Begin, page
                // batches and Commit, each with gRPC's message prefix; received, whether applied or discarded.
                long bytes = message.getSerializedSize() + GRPC_MESSAGE_PREFIX_BYTES;
                counters.wireBytesReceived(bytes);
                metrics.wireBytesReceived.increment(bytes);
            }
            default -> { }
        }
        try {
            switch (message.getBodyCase()) {
                case BEGIN -> begin(message.getBegin());
                case PAGES -> pages(message.getPages());
                case DEVICE_STATE -> deviceState(message.getDeviceState());
                case OUTPUTS -> outputs(message.getOutputs());
                case COMMIT -> {
                    return commit(message.getCommit());
                }
                default -> throw StandbyException.invalid("message with no known body (" + message.getBodyCase() + ")");
            }
            return null;
        } finally {
            // The next message may be a while: the journal's buffer goes back to the collector's pool meanwhile.
            store.yieldJournalBuffer();
        }
    }

    void begin(CheckpointBegin begin) throws StandbyException {
        if (phase == Phase.STAGING || phase == Phase.DISCARDING) {
            throw StandbyException.invalid("begin of epoch " + Long.toUnsignedString(begin.getEpoch()) + " while epoch "
                    + (phase == Phase.STAGING ? open.epoch : discarding) + " is open");
        }
        finishPendingApply();
        StandbyManifest manifest = store.manifest();
        long committed = manifest.committedEpoch();
        if (Long.compareUnsigned(begin.getEpoch(), committed) <= 0 || begin.getEpoch() == Long.MAX_VALUE) {
            throw StandbyException.invalid("epoch " + Long.toUnsignedString(begin.getEpoch())
                    + " is not after the committed epoch " + committed);
        }
        if (Long.compareUnsigned(begin.getPageCount(), image.pageCount()) > 0) {
            throw StandbyException.invalid("epoch " + begin.getEpoch() + " announces "
                    + Long.toUnsignedString(begin.getPageCount()) + " pages; the guest has " + image.pageCount());
        }
        boolean sameGuest = lineage.equals(manifest.lineage());
        boolean usableBase = begin.getFull()
                || (!manifest.fullSyncRequired() && sameGuest && begin.getBaseEpoch() == committed);
        if (!usableBase) {
            if (phase == Phase.READY) {
                boolean full = manifest.fullSyncRequired() || !sameGuest;
                requestResync(begin.getEpoch(), List.of(), full, "checkpoint " + begin.getEpoch() + " applies on epoch "
                        + Long.toUnsignedString(begin.getBaseEpoch()) + " but the standby holds epoch " + committed
                        + (full ? " and needs a full sync" : ""));
            }
            discarding = begin.getEpoch();
            phase = Phase.DISCARDING;
            return;
        }
        try {
            if (begin.getFull() && !sameGuest) {
                store.updateManifest(manifest.withNewLineage(lineage));
            }
            store.begin(begin.getEpoch(), begin.getBaseEpoch(), begin.getFull(), begin.getStunUnixMicros());
        } catch (IOException e) {
            throw StandbyException.storage("starting the journal of epoch " + begin.getEpoch(), e);
        }
        open = new OpenCheckpoint(begin, image.pageCount());
        phase = Phase.STAGING;
    }

    void pages(PageBatch batch) throws StandbyException {
        if (discards(batch.getEpoch(), "page batch")) {
            return;
        }
        columns.read(batch, open.epoch);
        image.beginBatch();
        for (int i = 0; i < columns.records(); i++) {
            if (!stage(i)) {
                return;
            }
        }
        try {
            image.endBatch(columns.pagesCheck());
        } catch (CorruptPageException e) {
            // Which page is wrong the check does not say: the checkpoint goes (its staged pages with it, I5) and the
            // agent sends every page of the batch whole.
            metrics.pageRejected(e.reason());
            List<Long> pages = new ArrayList<>(columns.records());
            for (int i = 0; i < columns.records(); i++) {
                pages.add(columns.index(i));
            }
            LOG.log(System.Logger.Level.WARNING, "vm {0}: a batch of {1} pages of epoch {2} rejected, asking for them "
                    + "whole: {3}", vm, pages.size(), open.epoch, e.getMessage());
            discard(pages, "a batch of " + pages.size() + " pages of epoch " + open.epoch + ": " + e.getMessage());
            return;
        }
        counters.received(columns.records());
        metrics.pagesReceived.increment(columns.records());
    }

    /** Stages record {@code i} of the batch just read; false when it did not verify and the checkpoint is being discarded. */
    private boolean stage(int i) throws StandbyException {
        long index = columns.index(i); // within the guest: PageColumns checked it
        if (open.seen.get(index)) {
            throw StandbyException.invalid("epoch " + open.epoch + " carries page " + index + " twice");
        }
        if (open.received >= open.declaredPages) {
            throw StandbyException.invalid("epoch " + open.epoch + " carries more than the " + open.declaredPages
                    + " pages it announced");
        }
        PageEncoding encoding;
        try {
            encoding = image.decode(index, columns.encoding(i), columns.payload(i), columns.baseVersion(i),
                    columns.sourceIndex(i), open.full);
        } catch (CorruptPageException e) {
            metrics.pageRejected(e.reason());
            LOG.log(System.Logger.Level.WARNING, "vm {0}: page {1} of epoch {2} rejected, asking for it whole: {3}",
                    vm, index, open.epoch, e.getMessage());
            discard(List.of(index), "page " + index + " of epoch " + open.epoch + ": " + e.getMessage());
            return false;
        }
        metrics.pageDecoded(encoding);
        if (!open.full) {
            advisor.observe((int) index, encoding);
        }
        try {
            store.stagePage((int) index, image.scratch());
        } catch (IOException e) {
            throw StandbyException.storage("staging epoch " + open.epoch, e);
        }
        open.seen.set(index);
        open.received++;
        return true;
    }

    void deviceState(DeviceState chunk) throws StandbyException {
        if (!discards(chunk.getEpoch(), "device state")) {
            open.deviceState(chunk);
        }
    }

    void outputs(OutputBatch batch) throws StandbyException {
        if (!discards(batch.getEpoch(), "output batch")) {
            open.outputs(batch);
        }
    }

    /** Seals, applies and acknowledges the open checkpoint; returns the Ack, or null when it was not committed. */
    CollectorMessage commit(CheckpointCommit commit) throws StandbyException {
        if (phase == Phase.DISCARDING && commit.getEpoch() == discarding) {
            phase = Phase.RESYNCING;
            return null;
        }
        OpenCheckpoint checkpoint = requireOpen(commit.getEpoch(), "commit");
        if (commit.getPageCount() != checkpoint.received || checkpoint.received != checkpoint.declaredPages) {
            throw StandbyException.invalid("commit of epoch " + checkpoint.epoch + " claims "
                    + Long.toUnsignedString(commit.getPageCount()) + " pages; begin announced "
                    + checkpoint.declaredPages + " and " + checkpoint.received + " arrived");
        }
        if (checkpoint.full && checkpoint.received != image.pageCount()) {
            throw StandbyException.invalid("full checkpoint " + checkpoint.epoch + " carries " + checkpoint.received
                    + " of " + image.pageCount() + " pages");
        }
        byte[] deviceState = checkpoint.verifiedDeviceState(commit);
        if (deviceState == null) {
            metrics.pageRejected(CorruptPageException.Reason.CHECKSUM_MISMATCH);
            drop();
            requestResync(checkpoint.epoch, List.of(), false, "the device state of epoch " + checkpoint.epoch
                    + " does not match its SHA-256");
            phase = Phase.RESYNCING;
            return null;
        }
        CommittedOutputs outputs;
        try {
            outputs = store.committed().outputs().advance(commit.getOutputStart(), commit.getOutputEnd(),
                    checkpoint.outputRecords(commit), commit.getReleasedOutputEnd(), checkpoint.full);
        } catch (IllegalArgumentException e) {
            throw StandbyException.invalid("commit of epoch " + checkpoint.epoch + ": " + e.getMessage());
        }
        byte[] primaryDigest = commit.getExpectedImageSha256().isEmpty() ? null
                : commit.getExpectedImageSha256().toByteArray();
        if (primaryDigest != null && primaryDigest.length != 32) {
            throw StandbyException.invalid("an image SHA-256 of " + primaryDigest.length + " bytes");
        }
        long started = System.nanoTime();
        try {
            store.stageState(new CommittedState(checkpoint.epoch, deviceState, outputs, primaryDigest));
            store.commit(checkpoint.epoch);
        } catch (ApplyFailedException e) {
            image.forgetVersions(); // the image may be half applied: no delta may rely on it
            throw StandbyException.storage("applying epoch " + checkpoint.epoch, e);
        } catch (IOException e) {
            throw StandbyException.storage("committing epoch " + checkpoint.epoch, e);
        } finally {
            open = null;
            phase = Phase.READY;
        }
        image.committed(checkpoint.seen, checkpoint.epoch);
        Feedback feedback = advisor.drain();
        if (feedback != null) {
            agent.accept(CollectorMessage.newBuilder().setFeedback(feedback).build());
            metrics.feedbackSent.increment();
        }
        if (primaryDigest != null && !verifyImage(checkpoint.epoch, primaryDigest)) {
            return null;
        }
        long applyNanos = System.nanoTime() - started;
        long now = TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis());
        counters.committed(now, checkpoint.stunMicros);
        metrics.apply.record(applyNanos, TimeUnit.NANOSECONDS);
        metrics.epochsCommitted.increment();
        metrics.pagesPerEpoch.record(checkpoint.received);
        if (checkpoint.stunUnixMicros > 0 && now > checkpoint.stunUnixMicros) {
            metrics.commitLag.record(now - checkpoint.stunUnixMicros, TimeUnit.MICROSECONDS);
        }
        return CollectorMessage.newBuilder().setAck(Ack.newBuilder()
                .setEpoch(checkpoint.epoch)
                .setCommittedUnixMicros(now)
                .setApplyMicros(applyNanos / 1000)).build();
    }

    /**
     * Completes an apply that failed midway, before anything builds on the image; if the journal cannot complete
     * it, the image needs a full sync (the manifest says so, and the versions of its pages are forgotten).
     */
    void finishPendingApply() throws StandbyException {
        try {
            if (!store.finishApply()) {
                image.forgetVersions();
            }
        } catch (IOException e) {
            throw StandbyException.storage("finishing the apply of a sealed epoch", e);
        }
    }

    Phase phase() {
        return phase;
    }

    /** Welcome.page_versions_after: deltas must name versions written after this epoch. */
    long versionsKnownAfter() {
        return image.versionsKnownAfter();
    }

    IntakeCounters counters() {
        return counters;
    }

    /** After verify mode's digest check: true when the image equals the primary's memory at the epoch's stun. */
    private boolean verifyImage(long epoch, byte[] expected) throws StandbyException {
        byte[] actual = store.sha256();
        metrics.digestsVerified.increment();
        if (Arrays.equals(actual, expected)) {
            return true;
        }
        String reason = "image digest after epoch " + epoch + " is " + ImageDigest.hex(actual) + ", the primary's is "
                + ImageDigest.hex(expected);
        metrics.digestMismatches.increment();
        LOG.log(System.Logger.Level.ERROR, "vm {0}: {1}; a full sync is required", vm, reason);
        try {
            store.updateManifest(store.manifest().withFullSyncRequired());
        } catch (IOException e) {
            throw StandbyException.storage("recording that vm " + vm + " needs a full sync", e);
        }
        requestResync(epoch, List.of(), true, reason);
        phase = Phase.RESYNCING;
        return false;
    }

    /** True when {@code epoch} is the checkpoint being discarded; otherwise requires it to be the open one. */
    private boolean discards(long epoch, String what) throws StandbyException {
        if (phase == Phase.DISCARDING && epoch == discarding) {
            return true;
        }
        requireOpen(epoch, what);
        return false;
    }

    private OpenCheckpoint requireOpen(long epoch, String what) throws StandbyException {
        if (phase != Phase.STAGING || open.epoch != epoch) {
            throw StandbyException.invalid(what + " for epoch " + Long.toUnsignedString(epoch) + " but "
                    + (phase == Phase.STAGING ? "epoch " + open.epoch + " is open" : "no checkpoint is open"));
        }
        return open;
    }

    /** Drops the open checkpoint and whatever is pipelined behind it, asking for {@code pages} whole. */
    private void discard(List<Long> pages, String reason) {
        long epoch = open.epoch;
        drop();
        requestResync(epoch, pages, false, reason);
        discarding = epoch;
        phase = Phase.DISCARDING;
    }

    private void requestResync(long abortedEpoch, List<Long> pages, boolean full, String reason) {
        metrics.resyncsRequested.increment();
        agent.accept(CollectorMessage.newBuilder().setResync(Resync.newBuilder()
                .setCommittedEpoch(store.manifest().committedEpoch())
                .setAbortedEpoch(abortedEpoch)
                .addAllPages(pages)
                .setFull(full)
                .setReason(reason)
                .setCommittedOutputEnd(store.committed().outputs().end())).build());
    }
}
