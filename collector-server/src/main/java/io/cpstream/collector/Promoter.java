package io.cpstream.collector;

import io.cpstream.collector.store.EventJournal;

import com.google.protobuf.ByteString;
import io.cpstream.collector.store.CommittedState;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.collector.store.StandbyManifest;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.snapshot.Snapshots;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Promotion of one standby: when it is allowed, and what it leaves behind. The standby's lock is held around
 * each step; raising the fencing epoch at the authority happens between them, outside it.
 *
 * <ol>
 *   <li>{@link #check}: the image holds a whole committed epoch, and no primary holds a lease (unless forced:
 *       the operator asserts the primary is dead).</li>
 *   <li>The authority raises the fencing epoch from the one of the primary that fed this standby: if anyone
 *       raised it since, this standby is from an older reign, and promoting it would fork the VM's history.</li>
 *   <li>{@link #freeze}: the snapshot of the committed epoch, and the manifest marked promoted.</li>
 * </ol>
 */
final class Promoter {

    private static final System.Logger LOG = System.getLogger(Promoter.class.getName());

    private final String vm;
    private final ImageStore store;
    private final Path snapshots;

    Promoter(String vm, ImageStore store, Path snapshots) {
        this.vm = vm;
        this.store = store;
        this.snapshots = snapshots;
    }

    /**
     * Refuses a promotion the standby cannot or must not make now.
     *
     * @param leaseLeft      how long the primary's lease from this collector still runs
     * @param heldElsewhere  whether another collector grants the primary a lease (asked of the authority)
     */
    void check(boolean force, long leaseLeft, boolean heldElsewhere, String agentId, boolean streaming)
            throws StandbyException {
        StandbyManifest manifest = store.manifest();
        if (manifest.promoted()) {
            throw StandbyException.alreadyDone("vm " + vm + " was already promoted at epoch "
                    + manifest.committedEpoch() + "; its snapshot is " + manifest.snapshotPath());
        }
        if (manifest.committedEpoch() == 0 || manifest.fullSyncRequired() || store.applyPending()) {
            throw StandbyException.precondition("vm " + vm + " has no complete committed epoch to promote "
                    + (manifest.committedEpoch() == 0 ? "yet" : "now: its image needs a full sync from its primary"));
        }
        if (!force && leaseLeft == 0 && heldElsewhere) {
            throw StandbyException.precondition("vm " + vm + ": its primary holds a lease granted by another "
                    + "collector; promoting now would make two primaries. Stop it, or use --force if you know it is dead");
        }
        if (leaseLeft > 0 && !force) {
            throw StandbyException.precondition("vm " + vm + ": its primary (agent " + agentId
                    + ") still holds its lease for " + TimeUnit.NANOSECONDS.toMillis(leaseLeft) + " ms"
                    + (streaming ? " and is streaming" : "") + "; promoting now would make two primaries. "
                    + "Stop the primary, or wait for its lease to run out, or use --force if you know it is dead");
        }
    }

    /** Writes the snapshot of the committed epoch under the raised {@code fencing} epoch and marks the standby promoted. */
    PromoteResponse freeze(long fencing, long leaseLeft, EventJournal events) throws StandbyException {
        StandbyManifest manifest = store.manifest();
        CommittedState committed = store.committed();
        Path target = snapshots.resolve("epoch-" + manifest.committedEpoch());
        Snapshots.SnapshotManifest snapshot;
        try {
            snapshot = Snapshots.write(target, new Snapshots.Contents(manifest.vm(), manifest.committedEpoch(), fencing,
                    manifest.pageSize(), manifest.pageCount(), manifest.stunUnixMicros(), manifest.sourceKind(),
                    manifest.sourceParams(), committed.outputs(), store::page, committed.deviceState()));
            if (events.started()) {
                // Record/replay protection: the inputs after the committed epoch, which the promoted VM replays first.
                events.log().write(target.resolve(Snapshots.EVENT_LOG));
            }
            store.updateManifest(manifest.withPromotion(fencing, target.toString()));
        } catch (IOException e) {
            throw StandbyException.storage("writing the snapshot of epoch " + manifest.committedEpoch(), e);
        }
        LOG.log(System.Logger.Level.INFO, "vm {0}: promoted at epoch {1}, fencing epoch {2}, snapshot {3}", vm,
                manifest.committedEpoch(), fencing, target);
        PromoteResponse.Builder response = PromoteResponse.newBuilder();
        if (committed.primarySha256() != null) {
            response.setPrimaryImageSha256(ByteString.copyFrom(committed.primarySha256()));
        }
        return response
                .setVmId(vm)
                .setPromotedEpoch(manifest.committedEpoch())
                .setFencingEpoch(fencing)
                .setSnapshotPath(target.toString())
                .setImageSha256(ByteString.fromHex(snapshot.memorySha256()))
                .setDeviceStateSha256(ByteString.fromHex(snapshot.deviceStateSha256()))
                .setOutputEnd(committed.outputs().end())
                .setLeaseExpiresInMicros(TimeUnit.NANOSECONDS.toMicros(leaseLeft))
                .build();
    }
}
