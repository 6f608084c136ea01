package io.cpstream.collector.store;

import io.cpstream.snapshot.CommittedOutputs;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The standby of one VM on disk: a sparse, memory-mapped image of guest memory, the manifest of the
 * committed epoch, and the journal of the epoch being staged.
 *
 * <p>A checkpoint is staged into the journal, sealed, copied into the image, and then the manifest is
 * replaced. Opening the store replays a sealed journal the manifest does not reflect yet, so after a
 * crash at any instant the standby equals exactly one committed epoch (invariant I1). Not
 * thread-safe: its owner serialises calls.
 */
public final class ImageStore implements AutoCloseable {

    static final String IMAGE = "image.mem";
    static final String MANIFEST = "manifest.json";
    static final String JOURNAL = "journal.wal";

    private final Path directory;
    private final Durability durability;
    private final Arena arena = Arena.ofShared();
    private final FileChannel imageChannel;
    private final MemorySegment image;
    private final Journal journal;
    private StandbyManifest manifest;
    private long stagingEpoch = -1;
    private long stagedPages;

    private ImageStore(Path directory, StandbyManifest manifest, Durability durability) throws IOException {
        this.directory = directory;
        this.durability = durability;
        this.manifest = manifest;
        long bytes = Math.multiplyExact((long) manifest.pageSize(), manifest.pageCount());
        this.imageChannel = FileChannel.open(directory.resolve(IMAGE), StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        if (imageChannel.size() != bytes) {
            imageChannel.close();
            throw new IOException(directory.resolve(IMAGE) + " is " + Files.size(directory.resolve(IMAGE))
                    + " bytes but the manifest describes " + bytes);
        }
        this.image = imageChannel.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
        this.journal = new Journal(directory.resolve(JOURNAL), manifest.pageSize());
    }

    /** Creates an empty standby: a sparse image of zeros and a manifest that demands a full sync. */
    public static ImageStore create(Path directory, StandbyManifest fresh, Durability durability) throws IOException {
        Files.createDirectories(directory);
        try (RandomAccessFile file = new RandomAccessFile(directory.resolve(IMAGE).toFile(), "rw")) {
            file.setLength(Math.multiplyExact((long) fresh.pageSize(), fresh.pageCount()));
        }
        fresh.write(directory.resolve(MANIFEST), durability == Durability.FSYNC);
        return new ImageStore(directory, fresh, durability);
    }

    /** Opens an existing standby, finishing a commit that a crash interrupted. */
    public static ImageStore open(Path directory, Durability durability) throws IOException {
        ImageStore store = new ImageStore(directory, StandbyManifest.read(directory.resolve(MANIFEST)), durability);
        try {
            store.recover();
        } catch (IOException | RuntimeException e) {
            store.close();
            throw e;
        }
        return store;
    }

    public static boolean exists(Path directory) {
        return Files.isRegularFile(directory.resolve(MANIFEST));
    }

    public Path directory() {
        return directory;
    }

    public StandbyManifest manifest() {
        return manifest;
    }

    /** The committed image; read it only while no commit is running. */
    public MemorySegment image() {
        return image.asReadOnly();
    }

    /** Starts staging {@code epoch}. Anything staged before and not committed is dropped. */
    public void begin(long epoch, long base, boolean full, long stunUnixMicros) throws IOException {
        journal.begin(epoch, base, full, stunUnixMicros);
        stagingEpoch = epoch;
        stagedPages = 0;
    }

    public void stagePage(int page, MemorySegment content) throws IOException {
        requireStaging();
        journal.appendPage(page, content);
        stagedPages++;
    }

    public void stageDeviceState(byte[] state) throws IOException {
        requireStaging();
        journal.appendDeviceState(state);
    }

    /** Stages the outputs the standby holds once this epoch commits (replacing the committed ones). */
    public void stageOutputs(CommittedOutputs outputs) throws IOException {
        requireStaging();
        journal.appendOutputs(outputs);
    }

    /** Stages the primary's SHA-256 of its memory at this epoch's stun, kept with the commit for promotion. */
    public void stagePrimaryDigest(byte[] sha256) throws IOException {
        requireStaging();
        journal.appendPrimaryDigest(sha256);
    }

    /** Forgets the staged epoch; the committed standby is untouched. */
    public void abort() {
        stagingEpoch = -1;
    }

    /** Seals the staged epoch, applies it to the image and makes it the committed one. */
    public StandbyManifest commit(long epoch) throws IOException {
        requireStaging();
        if (epoch != stagingEpoch) {
            throw new IllegalStateException("committing epoch " + epoch + " while staging " + stagingEpoch);
        }
        journal.seal(epoch, stagedPages, durable());
        stagingEpoch = -1;
        // Read back before touching the image: only a journal that verifies sealed may be applied, or a
        // torn write would leave the image a mix that recovery (which also needs the seal) cannot finish.
        Journal.Sealed sealed = journal.read(null);
        if (sealed == null || sealed.epoch() != epoch) {
            throw new IOException("journal of epoch " + epoch + " does not read back sealed");
        }
        apply(sealed);
        return manifest;
    }

    /** Replaces the manifest (fencing epoch, promotion, full-sync flag); durable before returning. */
    public void updateManifest(StandbyManifest next) throws IOException {
        next.write(directory.resolve(MANIFEST), true);
        manifest = next;
    }

    @Override
    public void close() throws IOException {
        try {
            journal.close();
        } finally {
            try {
                imageChannel.close();
            } finally {
                arena.close();
            }
        }
    }

    private void recover() throws IOException {
        Journal.Sealed sealed = journal.read(null);
        if (sealed != null && sealed.epoch() > manifest.committedEpoch()
                && (sealed.full() || sealed.base() == manifest.committedEpoch())) {
            apply(sealed);
        }
    }

    private void apply(Journal.Sealed sealed) throws IOException {
        int pageSize = manifest.pageSize();
        long pageCount = manifest.pageCount();
        byte[][] deviceState = {new byte[0]};
        // A journal without an outputs record (no output channel) keeps what the standby held.
        CommittedOutputs[] outputs = {manifest.outputs()};
        byte[][] primaryDigest = {null};
        journal.read(new Journal.Visitor() {
            @Override
            public void page(int page, MemorySegment content) throws IOException {
                if (page < 0 || page >= pageCount) {
                    throw new IOException("journal names page " + page + " of " + pageCount);
                }
                MemorySegment.copy(content, 0, image, (long) page * pageSize, pageSize);
            }

            @Override
            public void deviceState(byte[] state) {
                deviceState[0] = state;
            }

            @Override
            public void outputs(CommittedOutputs committed) {
                outputs[0] = committed;
            }

            @Override
            public void primaryDigest(byte[] sha256) {
                primaryDigest[0] = sha256;
            }
        });
        if (durable()) {
            image.force();
        }
        StandbyManifest next = manifest.withCommit(sealed.epoch(), sealed.stunUnixMicros(), deviceState[0], outputs[0],
                primaryDigest[0]);
        next.write(directory.resolve(MANIFEST), durable());
        manifest = next;
    }

    private boolean durable() {
        return durability == Durability.FSYNC;
    }

    private void requireStaging() {
        if (stagingEpoch < 0) {
            throw new IllegalStateException("no epoch is being staged");
        }
    }
}
