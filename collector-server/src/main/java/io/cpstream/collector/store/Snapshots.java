package io.cpstream.collector.store;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.encoder.ZeroPages;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Self-describing snapshots of a standby: {@code memory.img} (sparse, {@code sha256sum} equals
 * {@code memory_sha256}), {@code device-state.bin}, and {@code manifest.json} saying what they are,
 * including the guest outputs of the epoch that its old primary may not have released.
 */
public final class Snapshots {

    public static final String MEMORY = "memory.img";
    public static final String DEVICE_STATE = "device-state.bin";
    public static final String MANIFEST = "manifest.json";

    private Snapshots() {
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
     * Writes the committed state of {@code store} into {@code target} (which must not exist) and returns
     * its manifest. Written under a temporary name and renamed, so a snapshot directory is always whole.
     */
    public static SnapshotManifest write(ImageStore store, Path target, long fencingEpoch) throws IOException {
        StandbyManifest standby = store.manifest();
        if (Files.exists(target)) {
            throw new IOException("snapshot " + target + " already exists");
        }
        Path temp = target.resolveSibling(target.getFileName() + ".partial");
        deleteRecursively(temp);
        Files.createDirectories(temp);
        String memorySha = copySparse(store.image(), standby.pageSize(), temp.resolve(MEMORY));
        Files.write(temp.resolve(DEVICE_STATE), standby.deviceState());
        SnapshotManifest manifest = new SnapshotManifest(1, standby.vm(), standby.committedEpoch(), fencingEpoch,
                standby.pageSize(), standby.pageCount(), MEMORY, memorySha, DEVICE_STATE,
                ImageDigest.hex(ImageDigest.sha256(standby.deviceState())), standby.stunUnixMicros(),
                Instant.now().toString(), standby.sourceKind(), standby.sourceParams(), standby.outputs());
        Files.write(temp.resolve(MANIFEST), StandbyManifest.JSON.writeValueAsBytes(manifest));
        StandbyManifest.forceDirectory(temp);
        Files.move(temp, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        StandbyManifest.forceDirectory(target.getParent());
        return manifest;
    }

    public static SnapshotManifest readManifest(Path snapshot) throws IOException {
        return StandbyManifest.JSON.readValue(snapshot.resolve(MANIFEST).toFile(), SnapshotManifest.class);
    }

    /** Copies the image leaving zero pages as holes, hashing every byte on the way; returns the hex SHA-256. */
    private static String copySparse(MemorySegment image, int pageSize, Path file) throws IOException {
        MessageDigest digest = ImageDigest.newSha256();
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            long pages = image.byteSize() / pageSize;
            for (long page = 0; page < pages; page++) {
                MemorySegment content = image.asSlice(page * pageSize, pageSize);
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
            if (out.size() < image.byteSize()) {
                out.write(ByteBuffer.allocate(1), image.byteSize() - 1);
            }
            out.force(true);
        }
        return ImageDigest.hex(digest.digest());
    }

    static void deleteRecursively(Path path) throws IOException {
        if (!Files.exists(path)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(path)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
