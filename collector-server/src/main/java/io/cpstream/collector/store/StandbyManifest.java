package io.cpstream.collector.store;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cpstream.snapshot.CommittedOutputs;
import io.cpstream.snapshot.DurableFiles;
import io.cpstream.snapshot.Snapshots;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The committed state of one standby, next to its image: which epoch the image holds, the device
 * state of that epoch, and the fencing epoch. Replaced atomically (write, rename) at every commit,
 * so it always names exactly one epoch.
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
        byte[] deviceState,
        boolean fullSyncRequired,
        boolean promoted,
        String snapshotPath,
        String sourceKind,
        Map<String, String> sourceParams,
        String lineage,
        CommittedOutputs outputs,
        byte[] primarySha256) {

    public static final int FORMAT = 1;

    public StandbyManifest {
        // Manifests written before output commit existed hold no outputs.
        outputs = outputs == null ? CommittedOutputs.NONE : outputs;
    }
    static final ObjectMapper JSON = Snapshots.JSON;

    public static StandbyManifest fresh(String vm, int pageSize, long pageCount, long fencingEpoch,
                                        String sourceKind, Map<String, String> sourceParams) {
        return new StandbyManifest(FORMAT, vm, pageSize, pageCount, 0, fencingEpoch, 0, new byte[0], true, false,
                null, sourceKind, sourceParams, "", CommittedOutputs.NONE, null);
    }

    /** @param primaryDigest the primary's SHA-256 of its memory at the epoch's stun, when its agent sent one */
    public StandbyManifest withCommit(long epoch, long stunMicros, byte[] state, CommittedOutputs committedOutputs,
                                      byte[] primaryDigest) {
        return new StandbyManifest(format, vm, pageSize, pageCount, epoch, fencingEpoch, stunMicros, state, false,
                promoted, snapshotPath, sourceKind, sourceParams, lineage, committedOutputs, primaryDigest);
    }

    /**
     * The image is about to be rebuilt by a full checkpoint of another guest lineage: until it commits,
     * nothing but a full checkpoint may apply.
     */
    public StandbyManifest withNewLineage(String next) {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencingEpoch, stunUnixMicros,
                deviceState, true, promoted, snapshotPath, sourceKind, sourceParams, next, outputs, primarySha256);
    }

    public StandbyManifest withFullSyncRequired() {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencingEpoch, stunUnixMicros,
                deviceState, true, promoted, snapshotPath, sourceKind, sourceParams, lineage, outputs, primarySha256);
    }

    public StandbyManifest withFencingEpoch(long fencing) {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencing, stunUnixMicros,
                deviceState, fullSyncRequired, promoted, snapshotPath, sourceKind, sourceParams, lineage, outputs, primarySha256);
    }

    public StandbyManifest withSource(String kind, Map<String, String> params) {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencingEpoch, stunUnixMicros,
                deviceState, fullSyncRequired, promoted, snapshotPath, kind, params, lineage, outputs, primarySha256);
    }

    public StandbyManifest withPromotion(long fencing, String snapshot) {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencing, stunUnixMicros,
                deviceState, fullSyncRequired, true, snapshot, sourceKind, sourceParams, lineage, outputs, primarySha256);
    }

    /**
     * The promoted VM's new primary protects itself here again: the standby must be rebuilt by a full
     * checkpoint, and promotion is possible again once it is.
     */
    public StandbyManifest withReprotection() {
        return new StandbyManifest(format, vm, pageSize, pageCount, committedEpoch, fencingEpoch, stunUnixMicros,
                deviceState, true, false, snapshotPath, sourceKind, sourceParams, lineage, outputs, primarySha256);
    }

    static StandbyManifest read(Path file) throws IOException {
        StandbyManifest manifest = JSON.readValue(file.toFile(), StandbyManifest.class);
        if (manifest.format() != FORMAT) {
            throw new IOException(file + " has format " + manifest.format() + "; this collector reads format " + FORMAT);
        }
        return manifest;
    }

    void write(Path file, boolean force) throws IOException {
        DurableFiles.replace(file, JSON.writeValueAsBytes(this), force);
    }
}
