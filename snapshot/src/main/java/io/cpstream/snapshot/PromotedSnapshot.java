package io.cpstream.snapshot;

import io.cpstream.snapshot.Snapshots.SnapshotManifest;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.RecordReplay;
import io.cpstream.tracker.replay.EventLog;
import io.cpstream.tracker.replay.InputEvents;
import java.io.IOException;
import java.util.Optional;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;

/**
 * A snapshot written by promotion ({@code <data-dir>/vms/<vm>/snapshots/epoch-N/}), checked and turned
 * back into a guest: the manifest says which source it was and with which parameters, the files must
 * match the manifest's digests, and the guest is restored from them (not yet started).
 */
public final class PromotedSnapshot {

    private final Path directory;
    private final SnapshotManifest manifest;
    private final SourceSpec spec;

    private PromotedSnapshot(Path directory, SnapshotManifest manifest, SourceSpec spec) {
        this.directory = directory;
        this.manifest = manifest;
        this.spec = spec;
    }

    public Path directory() {
        return directory;
    }

    public SnapshotManifest manifest() {
        return manifest;
    }

    /** The source the snapshot was taken from, with its parameters: what {@link #restore()} creates. */
    public SourceSpec spec() {
        return spec;
    }

    /** Reads and checks a snapshot directory; every problem is an {@link InvalidSnapshotException} saying what is wrong. */
    public static PromotedSnapshot open(Path directory) throws IOException {
        if (!Files.isRegularFile(directory.resolve(Snapshots.MANIFEST))) {
            throw new InvalidSnapshotException(directory + " is not a snapshot: it has no " + Snapshots.MANIFEST
                    + " (snapshots are <data-dir>/vms/<vm>/snapshots/epoch-<N>/ on the collector)");
        }
        SnapshotManifest manifest;
        try {
            manifest = Snapshots.readManifest(directory);
        } catch (IOException e) {
            throw new InvalidSnapshotException("cannot read " + directory.resolve(Snapshots.MANIFEST) + ": " + e.getMessage());
        }
        if (manifest.sourceKind() == null || manifest.sourceKind().isEmpty()) {
            throw new InvalidSnapshotException("snapshot " + directory + " does not record which source it was taken from");
        }
        Path memory = directory.resolve(manifest.memoryFile());
        long expectedBytes = (long) manifest.pageSize() * manifest.pageCount();
        if (!Files.isRegularFile(memory) || Files.size(memory) != expectedBytes) {
            throw new InvalidSnapshotException("snapshot " + directory + ": " + manifest.memoryFile() + " is missing or not "
                    + expectedBytes + " bytes as the manifest says");
        }
        requireDigest(memory, manifest.memorySha256());
        requireDigest(directory.resolve(manifest.deviceStateFile()), manifest.deviceStateSha256());
        SourceSpec spec = new SourceSpec(manifest.sourceKind(),
                manifest.sourceParams() == null ? java.util.Map.of() : manifest.sourceParams());
        return new PromotedSnapshot(directory, manifest, spec);
    }

    /**
     * A new guest holding the snapshot's memory and device state; {@link MemorySource#start()} resumes it. A snapshot
     * of a VM under record/replay protection also holds the inputs its primary got after the epoch
     * ({@link #eventLog()}): the guest replays them first, so it passes through every output its primary could have
     * released, then goes on live.
     */
    public MemorySource restore() throws IOException {
        byte[] deviceState = Files.readAllBytes(directory.resolve(manifest.deviceStateFile()));
        MemorySource guest = MemorySources.restore(spec, directory.resolve(manifest.memoryFile()), deviceState);
        try {
            if (guest.pageSize() != manifest.pageSize() || guest.pageCount() != manifest.pageCount()) {
                throw new InvalidSnapshotException("snapshot " + directory + " holds " + manifest.pageCount()
                        + " pages of " + manifest.pageSize() + " bytes, but its source " + spec + " has "
                        + guest.pageCount() + " of " + guest.pageSize());
            }
            Optional<EventLog> log = eventLog();
            if (log.isPresent()) {
                replayFirst(guest, log.get());
            }
            return guest;
        } catch (IOException | RuntimeException e) {
            guest.close();
            throw e;
        }
    }

    /** The inputs after the snapshot's epoch, for a VM under record/replay protection; empty otherwise. */
    public Optional<EventLog> eventLog() throws IOException {
        Path file = directory.resolve(Snapshots.EVENT_LOG);
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        try {
            return Optional.of(EventLog.read(file));
        } catch (IllegalArgumentException e) {
            throw new InvalidSnapshotException("snapshot " + directory + ": " + e.getMessage());
        }
    }

    private void replayFirst(MemorySource guest, EventLog log) throws InvalidSnapshotException {
        RecordReplay rr = guest.recordReplay().orElseThrow(() -> new InvalidSnapshotException("snapshot " + directory
                + " holds an event log, but its source " + spec + " cannot replay one"));
        long at = rr.portOrdinal();
        if (at < log.from()) {
            throw new InvalidSnapshotException("snapshot " + directory + ": its event log covers port accesses ["
                    + log.from() + ", " + log.end() + ") but the guest is at " + at + ": inputs in between are lost");
        }
        if (at >= log.end()) {
            return; // the checkpoint is newer than every journaled input: nothing to replay
        }
        rr.replay(InputEvents.from(log.events(), at), log.end(), RecordReplay.AtEnd.LIVE);
    }

    private static void requireDigest(Path file, String expectedHex) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new InvalidSnapshotException("snapshot file " + file + " is missing");
        }
        String actual = ImageDigest.hex(sha256(file));
        if (!actual.equalsIgnoreCase(expectedHex)) {
            throw new InvalidSnapshotException("snapshot file " + file + " is corrupt: its SHA-256 is " + actual
                    + ", the manifest says " + expectedHex);
        }
    }

    /** SHA-256 of a whole file, read in 1 MiB blocks. */
    public static byte[] sha256(Path file) throws IOException {
        MessageDigest digest = ImageDigest.newSha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 20];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
        }
        return digest.digest();
    }
}
