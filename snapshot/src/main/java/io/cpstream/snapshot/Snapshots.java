package io.cpstream.snapshot;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.encoder.ZeroPages;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.Map;

/**
 * Self-describing snapshots of a standby: {@code memory.img} (sparse, {@code sha256sum} equals
 * {@code memory_sha256}), {@code device-state.bin}, and {@code manifest.json} saying what they are,
 * including the guest outputs of the epoch that its old primary may not have released.
 */
public final class Snapshots {

    public static final String MEMORY = "memory.img";
    public static final String DEVICE_STATE = "device-state.bin";
    public static final String MANIFEST = "manifest.json";
    /** Record/replay protection: the inputs after the snapshot's epoch (dirty-tracker's EventLog format), if any. */
    public static final String EVENT_LOG = "events.log";

    /** How snapshot manifests (and the standby's manifest) are written: snake_case keys, indented, lenient on read. */
    public static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private Snapshots() {
    }

    /**
     * What a snapshot holds: the committed state of one standby at one epoch.
     *
     * @param image       the guest's memory at the epoch's stun; read only while nothing writes it
     * @param deviceState the vCPU and device state of that stun, opaque here
     */
    public record Contents(String vm, long epoch, long fencingEpoch, int pageSize, long pageCount, long stunUnixMicros,
                           String sourceKind, Map<String, String> sourceParams, CommittedOutputs outputs,
                           Pages image, byte[] deviceState) {
    }

    /**
     * The pages of an image, one at a time: a standby's pages may be in its own file or in the collector's shared
     * page store, so a snapshot reads them by index rather than as one segment.
     */
    @FunctionalInterface
    public interface Pages {
        MemorySegment page(long index);

        /** The pages of one contiguous image. */
        static Pages of(MemorySegment image, int pageSize) {
            return index -> image.asSlice(index * pageSize, pageSize);
        }
    }

    /** What {@code manifest.json} of a snapshot holds. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record SnapshotManifest(
            int format,
            String vm,
            long epoch,
            long fencingEpoch,
            int pageSize,
            long pageCount,
            String memoryFile,
            String memorySha256,
            String deviceStateFile,
            String deviceStateSha256,
            long stunUnixMicros,
            String createdAt,
            String sourceKind,
            Map<String, String> sourceParams,
            CommittedOutputs outputs) {

        public SnapshotManifest {
            outputs = outputs == null ? CommittedOutputs.NONE : outputs;
        }
    }

    /**
     * Writes {@code contents} into {@code target} (which must not exist) and returns its manifest. Written under a
     * temporary name and renamed, and forced to stable storage, so a snapshot directory is always whole.
     */
    public static SnapshotManifest write(Path target, Contents contents) throws IOException {
        if (Files.exists(target)) {
            throw new IOException("snapshot " + target + " already exists");
        }
        Path temp = target.resolveSibling(target.getFileName() + ".partial");
        DurableFiles.deleteRecursively(temp);
        DurableFiles.createPrivateDirectories(temp);
        String memorySha = copySparse(contents.image(), contents.pageSize(), contents.pageCount(),
                temp.resolve(MEMORY));
        DurableFiles.write(temp.resolve(DEVICE_STATE), contents.deviceState());
        SnapshotManifest manifest = new SnapshotManifest(1, contents.vm(), contents.epoch(), contents.fencingEpoch(),
                contents.pageSize(), contents.pageCount(), MEMORY, memorySha, DEVICE_STATE,
                ImageDigest.hex(ImageDigest.sha256(contents.deviceState())), contents.stunUnixMicros(),
                Instant.now().toString(), contents.sourceKind(), contents.sourceParams(), contents.outputs());
        DurableFiles.write(temp.resolve(MANIFEST), JSON.writeValueAsBytes(manifest));
        DurableFiles.forceDirectory(temp);
        Files.move(temp, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        DurableFiles.forceDirectory(target.getParent());
        return manifest;
    }

    public static SnapshotManifest readManifest(Path snapshot) throws IOException {
        return JSON.readValue(snapshot.resolve(MANIFEST).toFile(), SnapshotManifest.class);
    }

    /** Copies the image leaving zero pages as holes, hashing every byte on the way; returns the hex SHA-256. */
    private static String copySparse(Pages image, int pageSize, long pages, Path file) throws IOException {
        MessageDigest digest = ImageDigest.newSha256();
        long imageBytes = pages * pageSize;
        try (FileChannel out = DurableFiles.createPrivate(file)) {
            for (long page = 0; page < pages; page++) {
                MemorySegment content = image.page(page);
                ByteBuffer bytes = content.asByteBuffer();
                digest.update(bytes.duplicate());
                if (!ZeroPages.isZero(content)) {
                    long position = page * pageSize;
                    while (bytes.hasRemaining()) {
                        position += out.write(bytes, position);
                    }
                }
            }
            // A trailing run of zero pages still counts towards the size.
            if (out.size() < imageBytes) {
                out.write(ByteBuffer.allocate(1), imageBytes - 1);
            }
            out.force(true);
        }
        return ImageDigest.hex(digest.digest());
    }

}
