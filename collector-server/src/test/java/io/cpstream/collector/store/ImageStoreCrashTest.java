package io.cpstream.collector.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.encoder.ImageDigest;
import io.cpstream.snapshot.CommittedOutputs;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A kill -9 of the collector at each point of a commit, reproduced on the files themselves: whatever
 * state the files are left in, opening the store yields exactly one committed epoch, never a mix, and
 * the acknowledged one once its journal was sealed (invariant I1). Outputs recover with their epoch.
 */
class ImageStoreCrashTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 64;

    @TempDir
    Path dir;

    /** Where the process died during the commit of epoch 2. */
    enum CrashPoint {
        WHILE_STAGING, TORN_SEAL, AFTER_SEAL, HALFWAY_THROUGH_APPLY, BEFORE_STATE_RENAME, BEFORE_MANIFEST_RENAME
    }

    @ParameterizedTest
    @EnumSource(CrashPoint.class)
    void reopeningAfterACrashYieldsExactlyOneCommittedEpoch(CrashPoint crash) throws Exception {
        Path live = dir.resolve("live");
        Random random = new Random(crash.ordinal());
        byte[][] epoch1 = randomPages(random, PAGES);
        byte[][] epoch2Pages = randomPages(random, PAGES / 2);
        CommittedOutputs outputs1 = CommittedOutputs.NONE.advance(0, 2, List.of(new byte[] {1}, new byte[] {2}), 0, true);
        CommittedOutputs outputs2 = outputs1.advance(2, 3, List.of(new byte[] {3}), 1, false);
        byte[] image1;
        byte[] image2;
        Path before = dir.resolve("before");
        Path after = dir.resolve("after");
        try (ImageStore store = ImageStore.create(live, StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim", Map.of()),
                Durability.NONE)) {
            commit(store, 1, 0, true, epoch1, outputs1);
            image1 = snapshotImage(store);
            copyTree(live, before);
            commit(store, 2, 1, false, epoch2Pages, outputs2);
            image2 = snapshotImage(store);
            copyTree(live, after);
        }
        // Rebuild the files as the crash left them: the old manifest and image, and the journal as far as it got.
        Path crashed = dir.resolve("crashed");
        copyTree(before, crashed);
        byte[] sealedJournal = Files.readAllBytes(after.resolve(ImageStore.JOURNAL));
        long expectedEpoch = 2;
        switch (crash) {
            case WHILE_STAGING -> {
                Files.write(crashed.resolve(ImageStore.JOURNAL), java.util.Arrays.copyOf(sealedJournal,
                        sealedJournal.length / 2));
                expectedEpoch = 1;
            }
            case TORN_SEAL -> {
                Files.write(crashed.resolve(ImageStore.JOURNAL), java.util.Arrays.copyOf(sealedJournal,
                        sealedJournal.length - 3));
                expectedEpoch = 1;
            }
            case AFTER_SEAL -> Files.write(crashed.resolve(ImageStore.JOURNAL), sealedJournal);
            case HALFWAY_THROUGH_APPLY -> {
                Files.write(crashed.resolve(ImageStore.JOURNAL), sealedJournal);
                byte[] half = Files.readAllBytes(crashed.resolve(ImageStore.IMAGE));
                for (int page = 0; page < epoch2Pages.length / 2; page++) {
                    System.arraycopy(epoch2Pages[page], 0, half, page * 2 * PAGE, PAGE);
                }
                Files.write(crashed.resolve(ImageStore.IMAGE), half);
            }
            case BEFORE_STATE_RENAME -> {
                Files.write(crashed.resolve(ImageStore.JOURNAL), sealedJournal);
                Files.copy(after.resolve(ImageStore.IMAGE), crashed.resolve(ImageStore.IMAGE),
                        StandardCopyOption.REPLACE_EXISTING);
                Files.copy(after.resolve(ImageStore.STATE), crashed.resolve(ImageStore.STATE + ".tmp"));
            }
            case BEFORE_MANIFEST_RENAME -> {
                Files.write(crashed.resolve(ImageStore.JOURNAL), sealedJournal);
                Files.copy(after.resolve(ImageStore.IMAGE), crashed.resolve(ImageStore.IMAGE),
                        StandardCopyOption.REPLACE_EXISTING);
                Files.copy(after.resolve(ImageStore.STATE), crashed.resolve(ImageStore.STATE),
                        StandardCopyOption.REPLACE_EXISTING);
                Files.copy(after.resolve(ImageStore.MANIFEST), crashed.resolve(ImageStore.MANIFEST + ".tmp"));
            }
        }
        try (ImageStore reopened = ImageStore.open(crashed, Durability.NONE)) {
            assertEquals(expectedEpoch, reopened.manifest().committedEpoch());
            assertArrayEquals(expectedEpoch == 2 ? image2 : image1, snapshotImage(reopened),
                    "the image is exactly epoch " + expectedEpoch);
            CommittedOutputs expectedOutputs = expectedEpoch == 2 ? outputs2 : outputs1;
            assertEquals(expectedOutputs.start(), reopened.committed().outputs().start());
            assertEquals(expectedOutputs.end(), reopened.committed().outputs().end());
            assertArrayEquals(new byte[] {(byte) expectedEpoch}, reopened.committed().deviceState());
            assertEquals(false, reopened.manifest().fullSyncRequired());
        }
    }

    /**
     * A sealed epoch whose apply began (half the image is epoch 2) but whose journal no longer verifies cannot be
     * finished: the standby must not pass the mix off as epoch 1. It reopens as needing a full sync.
     */
    @Test
    void aSealedJournalThatNoLongerVerifiesAfterItsApplyBeganLeavesTheStandbyNeedingAFullSync() throws Exception {
        Path live = dir.resolve("live");
        Random random = new Random(7);
        byte[] journal;
        try (ImageStore store = ImageStore.create(live, StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim", Map.of()),
                Durability.NONE)) {
            commit(store, 1, 0, true, randomPages(random, PAGES), CommittedOutputs.NONE);
            store.begin(2, 1, false, 2000);
            byte[][] pages = randomPages(random, 4);
            for (int i = 0; i < pages.length; i++) {
                store.stagePage(i, MemorySegment.ofArray(pages[i]));
            }
            store.stageState(new CommittedState(2, new byte[] {2}, CommittedOutputs.NONE, null));
            store.commit(2);
            journal = Files.readAllBytes(live.resolve(ImageStore.JOURNAL));
        }
        // As if the process died halfway through applying epoch 2, and the disk then returned one bad byte.
        Path crashed = dir.resolve("crashed");
        copyTree(live, crashed);
        Files.copy(dir.resolve("live").resolve(ImageStore.MANIFEST), crashed.resolve(ImageStore.MANIFEST),
                StandardCopyOption.REPLACE_EXISTING);
        writeManifestAtEpoch(crashed, 1);
        journal[100] ^= 1;
        Files.write(crashed.resolve(ImageStore.JOURNAL), journal);
        try (ImageStore reopened = ImageStore.open(crashed, Durability.NONE)) {
            assertEquals(true, reopened.manifest().fullSyncRequired(), "no promotion of a possible mix");
        }
    }

    /** With durability none, a crash of the host (its boot id changed) may leave any mix: full sync required. */
    @Test
    void withDurabilityNoneAHostCrashLeavesTheStandbyNeedingAFullSync() throws Exception {
        Path live = dir.resolve("live");
        try (ImageStore store = ImageStore.create(live, StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim", Map.of()),
                Durability.NONE)) {
            commit(store, 1, 0, true, randomPages(new Random(3), PAGES), CommittedOutputs.NONE);
        }
        try (ImageStore reopened = ImageStore.open(live, Durability.NONE)) {
            assertEquals(false, reopened.manifest().fullSyncRequired(), "a process restart keeps the standby");
        }
        com.fasterxml.jackson.databind.node.ObjectNode manifest = (com.fasterxml.jackson.databind.node.ObjectNode)
                io.cpstream.snapshot.Snapshots.JSON.readTree(live.resolve(ImageStore.MANIFEST).toFile());
        manifest.put("boot_id", "a-boot-before-the-power-loss");
        Files.write(live.resolve(ImageStore.MANIFEST), io.cpstream.snapshot.Snapshots.JSON.writeValueAsBytes(manifest));
        try (ImageStore reopened = ImageStore.open(live, Durability.NONE)) {
            assertEquals(1, reopened.manifest().committedEpoch());
            assertEquals(true, reopened.manifest().fullSyncRequired(), "after a host crash it cannot be promoted");
        }
    }

    /** A standby written by the previous release (format 1: device state and outputs inside manifest.json) opens. */
    @Test
    void aFormatOneManifestIsMigrated() throws Exception {
        Path live = dir.resolve("live");
        CommittedOutputs outputs = CommittedOutputs.NONE.advance(0, 2, List.of(new byte[] {1}, new byte[] {2}), 0, true);
        try (ImageStore store = ImageStore.create(live, StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim", Map.of()),
                Durability.NONE)) {
            commit(store, 1, 0, true, randomPages(new Random(4), PAGES), outputs);
        }
        com.fasterxml.jackson.databind.node.ObjectNode manifest = (com.fasterxml.jackson.databind.node.ObjectNode)
                io.cpstream.snapshot.Snapshots.JSON.readTree(live.resolve(ImageStore.MANIFEST).toFile());
        manifest.put("format", 1).put("device_state", new byte[] {9, 9}).remove("boot_id");
        manifest.set("outputs", io.cpstream.snapshot.Snapshots.JSON.valueToTree(outputs));
        Files.write(live.resolve(ImageStore.MANIFEST), io.cpstream.snapshot.Snapshots.JSON.writeValueAsBytes(manifest));
        Files.delete(live.resolve(ImageStore.STATE));
        try (ImageStore reopened = ImageStore.open(live, Durability.NONE)) {
            assertEquals(1, reopened.manifest().committedEpoch());
            assertEquals(2, reopened.manifest().format()); // format 3 only with a page map
            assertArrayEquals(new byte[] {9, 9}, reopened.committed().deviceState());
            assertEquals(2, reopened.committed().outputs().end());
        }
        assertTrue(Files.exists(live.resolve(ImageStore.STATE)), "state.bin written");
    }

    private static void writeManifestAtEpoch(Path store, long epoch) throws IOException {
        com.fasterxml.jackson.databind.node.ObjectNode manifest = (com.fasterxml.jackson.databind.node.ObjectNode)
                io.cpstream.snapshot.Snapshots.JSON.readTree(store.resolve(ImageStore.MANIFEST).toFile());
        manifest.put("committed_epoch", epoch);
        Files.write(store.resolve(ImageStore.MANIFEST), io.cpstream.snapshot.Snapshots.JSON.writeValueAsBytes(manifest));
    }

    @Test
    void outputsThatDoNotContinueTheCommittedStreamAreRefused() {
        CommittedOutputs held = CommittedOutputs.NONE.advance(0, 3, List.of(new byte[1], new byte[1], new byte[1]), 0, true);
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> held.advance(4, 5, List.of(new byte[1]), 0, false), "a gap");
        CommittedOutputs afterRunningAlone = held.advance(4, 5, List.of(new byte[1]), 4, false);
        assertEquals(4, afterRunningAlone.start(), "a gap the primary released (it ran alone) is no loss");
        assertEquals(5, afterRunningAlone.end());
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> held.advance(1, 2, List.of(new byte[1]), 0, false), "going back");
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> held.advance(3, 5, List.of(new byte[1]), 0, false), "a count that does not match");
        CommittedOutputs next = held.advance(1, 5, List.of(new byte[1], new byte[1], new byte[1], new byte[1]), 4, false);
        assertEquals(4, next.start(), "released records are forgotten");
        assertEquals(5, next.end());
    }

    static void commit(ImageStore store, long epoch, long base, boolean full, byte[][] pages,
                               CommittedOutputs outputs) throws IOException {
        store.begin(epoch, base, full, 1000 * epoch);
        for (int i = 0; i < pages.length; i++) {
            int page = full ? i : i * 2;
            store.stagePage(page, MemorySegment.ofArray(pages[i]));
        }
        store.stageState(new CommittedState(epoch, new byte[] {(byte) epoch}, outputs, null));
        store.commit(epoch);
    }

    static byte[] snapshotImage(ImageStore store) {
        return store.sha256();
    }

    static byte[][] randomPages(Random random, int count) {
        byte[][] pages = new byte[count][PAGE];
        for (byte[] page : pages) {
            random.nextBytes(page);
        }
        return pages;
    }

    static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path file : files.toList()) {
                if (Files.isRegularFile(file)) {
                    Files.copy(file, to.resolve(file.getFileName()), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }
}
