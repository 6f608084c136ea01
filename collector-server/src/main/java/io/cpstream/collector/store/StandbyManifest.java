package io.cpstream.collector.store;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cpstream.snapshot.CommittedOutputs;
import io.cpstream.snapshot.DurableFiles;
import io.cpstream.snapshot.Snapshots;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * What a standby is, next to its image, as JSON an operator can read: the VM, its geometry and source, the fencing
 * epoch, and whether the image can serve (as a base for deltas and for a promotion). Replaced atomically (write,
 * rename) whenever one of these changes. From format 4 the committed epoch and its device state and outputs live in
 * {@code commits.log} ({@link CommitLog}), appended at every commit: {@code committed_epoch} and
 * {@code stun_unix_micros} here are those of the last time the manifest was written, and the log's last record
 * overrides them. Formats 2 and 3 kept them current here, with the state in {@code state.bin}.
 *
 * <p>Format 3, or 4 with {@code shared_pages}, is a standby whose pages may be held in the collector's shared page
 * store (it has a {@code shared.map}: a reader that does not know it would take those pages for zeros, so it must
 * refuse it). Compatibility rule: a collector reads every format up to its own and refuses a newer one; format 1
 * (device state and outputs inline, base64) is read and rewritten as format 2 with a {@code state.bin} the first
 * time it is opened; formats 2 and 3 become 4 (their {@code state.bin} the log's first record) the first time they
 * are opened. A reader of format 3 or older must not open format 4: it would take the manifest's epoch for the
 * image's, which has moved on since.
 *
 * @param bootId the host's boot id when this manifest was written: with durability none, a different boot id at
 *               open means the host went down since, and the image may hold any mix of epochs
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record StandbyManifest(
        int format,
        String vm,
        int pageSize,
        long pageCount,
        long committedEpoch,
        long fencingEpoch,
        long stunUnixMicros,
        boolean fullSyncRequired,
        boolean promoted,
        String snapshotPath,
        String sourceKind,
        Map<String, String> sourceParams,
        String lineage,
        String bootId,
        boolean sharedPages) {

    public static final int FORMAT = 4;
    /** The format of a standby without a page map, before the commit log. */
    static final int UNSHARED = 2;
    /** The format of a standby with a page map, before the commit log. */
    static final int SHARED_BEFORE_COMMIT_LOG = 3;
    private static final ObjectMapper JSON = Snapshots.JSON;

    public static StandbyManifest fresh(String vm, int pageSize, long pageCount, long fencingEpoch,
                                        String sourceKind, Map<String, String> sourceParams) {
        return new StandbyManifest(FORMAT, vm, pageSize, pageCount, 0, fencingEpoch, 0, true, false,
                null, sourceKind, sourceParams, "", null, false);
    }

    /** The image now holds {@code epoch}, whole: it can serve as a base and be promoted. */
    public StandbyManifest withCommit(long epoch, long stunMicros) {
        return new StandbyManifest(format, vm, pageSize, pageCount, epoch, fencingEpoch, stunMicros, false,
                promoted, snapshotPath, sourceKind, sourceParams, lineage, bootId, sharedPages);
    }

    /**
     * The image is about to be rebuilt by a full checkpoint of another guest lineage: until it commits,
     * nothing but a full checkpoint may apply.
     */
    public StandbyManifest withNewLineage(String next) {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencingEpoch, stunUnixMicros,
                true, promoted, snapshotPath, sourceKind, sourceParams, next, bootId, sharedPages);
    }

    /** The image cannot serve (a digest mismatch, a failed apply, a host crash): only a full checkpoint repairs it. */
    public StandbyManifest withFullSyncRequired() {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencingEpoch, stunUnixMicros,
                true, promoted, snapshotPath, sourceKind, sourceParams, lineage, bootId, sharedPages);
    }

    public StandbyManifest withFencingEpoch(long fencing) {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencing, stunUnixMicros,
                fullSyncRequired, promoted, snapshotPath, sourceKind, sourceParams, lineage, bootId, sharedPages);
    }

    public StandbyManifest withSource(String kind, Map<String, String> params) {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencingEpoch, stunUnixMicros,
                fullSyncRequired, promoted, snapshotPath, kind, params, lineage, bootId, sharedPages);
    }

    public StandbyManifest withPromotion(long fencing, String snapshot) {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencing, stunUnixMicros,
                fullSyncRequired, true, snapshot, sourceKind, sourceParams, lineage, bootId, sharedPages);
    }

    /**
     * The promoted VM's new primary protects itself here again: the standby must be rebuilt by a full
     * checkpoint, and promotion is possible again once it is.
     */
    public StandbyManifest withReprotection() {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencingEpoch, stunUnixMicros,
                true, false, snapshotPath, sourceKind, sourceParams, lineage, bootId, sharedPages);
    }

    /** Whether pages of this standby may be held in the shared page store ({@code shared.map}). */
    public boolean sharesPages() {
        return format == SHARED_BEFORE_COMMIT_LOG || sharedPages;
    }

    /** Whether the committed epoch and its state are in {@code commits.log} (format 4 on). */
    boolean usesCommitLog() {
        return format >= 4;
    }

    /** This manifest in format 4, its committed state from now on in the commit log. */
    StandbyManifest withCommitLog() {
        return new StandbyManifest(FORMAT, vm, pageSize, pageCount, committedEpoch, fencingEpoch, stunUnixMicros,
                fullSyncRequired, promoted, snapshotPath, sourceKind, sourceParams, lineage, bootId, sharesPages());
    }

    /** The epoch the commit log says the image holds; unlike {@link #withCommit}, every flag stays as it is. */
    StandbyManifest withCommitted(long epoch, long stunMicros) {
        return new StandbyManifest(format, vm, pageSize, pageCount, epoch, fencingEpoch, stunMicros, fullSyncRequired,
                promoted, snapshotPath, sourceKind, sourceParams, lineage, bootId, sharedPages);
    }

    StandbyManifest withSharedPages() {
        return new StandbyManifest(FORMAT, vm, pageSize, pageCount, committedEpoch, fencingEpoch, stunUnixMicros,
                fullSyncRequired, promoted, snapshotPath, sourceKind, sourceParams, lineage, bootId, true);
    }

    StandbyManifest withBootId(String boot) {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencingEpoch, stunUnixMicros,
                fullSyncRequired, promoted, snapshotPath, sourceKind, sourceParams, lineage, boot, sharedPages);
    }

    /** A manifest and, for a format-1 manifest, the committed state it held inline (else null). */
    record Read(StandbyManifest manifest, CommittedState legacyState) {
    }

    static Read read(Path file) throws IOException {
        JsonNode tree = JSON.readTree(file.toFile());
        int format = tree.path("format").asInt(-1);
        if (format < 1 || format > FORMAT) {
            throw new IOException(file + " has format " + format + "; this collector reads formats 1 to " + FORMAT);
        }
        StandbyManifest manifest = JSON.treeToValue(tree, StandbyManifest.class);
        CommittedState legacy = null;
        if (format == 1) {
            CommittedOutputs outputs = tree.has("outputs")
                    ? JSON.treeToValue(tree.get("outputs"), CommittedOutputs.class) : CommittedOutputs.NONE;
            legacy = new CommittedState(manifest.committedEpoch(),
                    tree.has("device_state") ? tree.get("device_state").binaryValue() : new byte[0], outputs,
                    tree.has("primary_sha256") ? tree.get("primary_sha256").binaryValue() : null);
            manifest = new StandbyManifest(UNSHARED, manifest.vm(), manifest.pageSize(), manifest.pageCount(),
                    manifest.committedEpoch(), manifest.fencingEpoch(), manifest.stunUnixMicros(),
                    manifest.fullSyncRequired(), manifest.promoted(), manifest.snapshotPath(), manifest.sourceKind(),
                    manifest.sourceParams(), manifest.lineage(), null, false);
        }
        return new Read(manifest, legacy);
    }

    void write(Path file, boolean durable) throws IOException {
        DurableFiles.replace(file, JSON.writeValueAsBytes(this), durable);
    }
}
