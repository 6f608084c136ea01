package io.cpstream.snapshot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.encoder.ImageDigest;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A snapshot is whole, private, and checked against its manifest before anything restores it. */
class SnapshotsTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 32;

    @TempDir
    Path dir;

    private Snapshots.SnapshotManifest write(Path target, byte[] memory) throws IOException {
        CommittedOutputs outputs = CommittedOutputs.NONE.advance(0, 1, List.of(new byte[] {7}), 0, true);
        return Snapshots.write(target, new Snapshots.Contents("vm", 5, 2, PAGE, PAGES, 1000, "sim",
                Map.of("mem", "128k"), outputs, Snapshots.Pages.of(MemorySegment.ofArray(memory), PAGE), new byte[] {1, 2, 3}));
    }

    private static byte[] memory() {
        byte[] memory = new byte[PAGE * PAGES];
        new Random(1).nextBytes(memory);
        java.util.Arrays.fill(memory, 4 * PAGE, 12 * PAGE, (byte) 0); // zero pages become holes
        return memory;
    }

    @Test
    void whatIsWrittenOpensWithItsDigestsAndIsPrivate() throws Exception {
        byte[] memory = memory();
        Path target = dir.resolve("snapshots/epoch-5");
        Snapshots.SnapshotManifest written = write(target, memory);
        assertEquals(ImageDigest.hex(ImageDigest.sha256(memory)), written.memorySha256());
        assertArrayEquals(memory, Files.readAllBytes(target.resolve(Snapshots.MEMORY)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(target.resolve(Snapshots.MEMORY))));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));
        assertTrue(Files.notExists(dir.resolve("snapshots/epoch-5.partial")));

        PromotedSnapshot opened = PromotedSnapshot.open(target);
        assertEquals(5, opened.manifest().epoch());
        assertEquals(2, opened.manifest().fencingEpoch());
        assertEquals(1, opened.manifest().outputs().end());
        assertEquals("sim", opened.spec().kind());
        assertThrows(IOException.class, () -> write(target, memory), "a snapshot is never overwritten");
    }

    @Test
    void aCorruptOrIncompleteSnapshotIsRefusedNamingTheFile() throws Exception {
        Path target = dir.resolve("epoch-5");
        write(target, memory());
        try (RandomAccessFile file = new RandomAccessFile(target.resolve(Snapshots.MEMORY).toFile(), "rw")) {
            file.seek(100);
            file.write(file.read() ^ 1);
        }
        InvalidSnapshotException corrupt = assertThrows(InvalidSnapshotException.class, () -> PromotedSnapshot.open(target));
        assertTrue(corrupt.getMessage().contains(Snapshots.MEMORY), corrupt.getMessage());

        Path other = dir.resolve("epoch-6");
        write(other, memory());
        Files.delete(other.resolve(Snapshots.DEVICE_STATE));
        InvalidSnapshotException missing = assertThrows(InvalidSnapshotException.class, () -> PromotedSnapshot.open(other));
        assertTrue(missing.getMessage().contains(Snapshots.DEVICE_STATE), missing.getMessage());
        assertThrows(InvalidSnapshotException.class, () -> PromotedSnapshot.open(dir.resolve("nothing")));
    }
}
