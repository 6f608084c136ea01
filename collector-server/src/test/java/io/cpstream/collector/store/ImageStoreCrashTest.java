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
        WHILE_STAGING, TORN_SEAL, AFTER_SEAL, HALFWAY_THROUGH_APPLY, BEFORE_COMMIT_APPEND, TORN_COMMIT_APPEND,
        /** Epoch 2 is staged over epoch 1's journal in place: its first half, then epoch 1's bytes. */
        STAGING_OVER_THE_LAST_JOURNAL,
        /** Epoch 2's seal is written, but the file still ends with the rest of epoch 1's longer journal. */
        SEALED_BEFORE_THE_CUT
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
            case STAGING_OVER_THE_LAST_JOURNAL, SEALED_BEFORE_THE_CUT -> {
                byte[] previous = Files.readAllBytes(before.resolve(ImageStore.JOURNAL));
                int written = crash == CrashPoint.SEALED_BEFORE_THE_CUT ? sealedJournal.length : sealedJournal.length / 2;
                assertTrue(previous.length > sealedJournal.length, "epoch 1's journal is the longer");
                byte[] mixed = previous.clone();
                System.arraycopy(sealedJournal, 0, mixed, 0, written);
                Files.write(crashed.resolve(ImageStore.JOURNAL), mixed);
                expectedEpoch = 1; // the apply begins only after the cut: the image is untouched
            }
            case HALFWAY_THROUGH_APPLY -> {
                Files.write(crashed.resolve(ImageStore.JOURNAL), sealedJournal);
                byte[] half = Files.readAllBytes(crashed.resolve(ImageStore.IMAGE));
                for (int page = 0; page < epoch2Pages.length / 2; page++) {
                    System.arraycopy(epoch2Pages[page], 0, half, page * 2 * PAGE, PAGE);
                }
                Files.write(crashed.resolve(ImageStore.IMAGE), half);
            }
            case BEFORE_COMMIT_APPEND -> {
                // Every page applied, the commit log still ending with epoch 1.
                Files.write(crashed.resolve(ImageStore.JOURNAL), sealedJournal);
                Files.copy(after.resolve(ImageStore.IMAGE), crashed.resolve(ImageStore.IMAGE),
                        StandardCopyOption.REPLACE_EXISTING);
            }
            case TORN_COMMIT_APPEND -> {
                // The append of epoch 2's record got halfway: the log's last whole record is epoch 1's.
                Files.write(crashed.resolve(ImageStore.JOURNAL), sealedJournal);
                Files.copy(after.resolve(ImageStore.IMAGE), crashed.resolve(ImageStore.IMAGE),
                        StandardCopyOption.REPLACE_EXISTING);
                byte[] log = Files.readAllBytes(after.resolve(CommitLog.FILE));
                long logBefore = Files.size(before.resolve(CommitLog.FILE));
                Files.write(crashed.resolve(CommitLog.FILE), java.util.Arrays.copyOf(log,
                        (int) (logBefore + (log.length - logBefore) / 2)));
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
            Files.copy(live.resolve(CommitLog.FILE), dir.resolve("log-at-epoch-1"));
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
        Files.copy(dir.resolve("log-at-epoch-1"), crashed.resolve(CommitLog.FILE), StandardCopyOption.REPLACE_EXISTING);
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
        Files.delete(live.resolve(CommitLog.FILE));
        try (ImageStore reopened = ImageStore.open(live, Durability.NONE)) {
            assertEquals(1, reopened.manifest().committedEpoch());
            assertEquals(StandbyManifest.FORMAT, reopened.manifest().format());
            assertArrayEquals(new byte[] {9, 9}, reopened.committed().deviceState());
            assertEquals(2, reopened.committed().outputs().end());
        }
        assertTrue(Files.exists(live.resolve(CommitLog.FILE)), "the commit log written");
        try (ImageStore again = ImageStore.open(live, Durability.NONE)) {
            assertArrayEquals(new byte[] {9, 9}, again.committed().deviceState(), "read back from the log");
        }
    }

    /**
     * A standby of the release before the commit log (format 2: the committed epoch in manifest.json, its state in
     * state.bin), with a sealed journal of the next epoch not yet reflected: it opens at the journal's epoch, in
     * format 4, its state.bin gone into the log; and a crash during that upgrade leaves a standby that opens the same.
     */
    @Test
    void aFormatTwoStandbyIsUpgradedToTheCommitLog() throws Exception {
        Path live = dir.resolve("live");
        Random random = new Random(5);
        byte[][] pages1 = randomPages(random, PAGES);
        byte[][] pages2 = randomPages(random, 4);
        byte[] image2;
        byte[] journal2;
        CommittedState state1 = new CommittedState(1, new byte[] {1}, CommittedOutputs.NONE, null);
        try (ImageStore store = ImageStore.create(live, StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim", Map.of()),
                Durability.NONE)) {
            commit(store, 1, 0, true, pages1, CommittedOutputs.NONE);
            commit(store, 2, 1, false, pages2, CommittedOutputs.NONE);
            image2 = snapshotImage(store);
            journal2 = Files.readAllBytes(live.resolve(ImageStore.JOURNAL));
        }
        // As the previous release left it, having died after sealing and applying epoch 2.
        com.fasterxml.jackson.databind.node.ObjectNode manifest = (com.fasterxml.jackson.databind.node.ObjectNode)
                io.cpstream.snapshot.Snapshots.JSON.readTree(live.resolve(ImageStore.MANIFEST).toFile());
        manifest.put("format", 2).put("committed_epoch", 1).put("stun_unix_micros", 1000).remove("shared_pages");
        Files.write(live.resolve(ImageStore.MANIFEST), io.cpstream.snapshot.Snapshots.JSON.writeValueAsBytes(manifest));
        Files.write(live.resolve(ImageStore.STATE), state1.encode());
        Files.delete(live.resolve(CommitLog.FILE));
        Path copy = dir.resolve("copy");
        copyTree(live, copy);
        try (ImageStore reopened = ImageStore.open(live, Durability.NONE)) {
            assertEquals(2, reopened.manifest().committedEpoch(), "the sealed journal was replayed");
            assertEquals(StandbyManifest.FORMAT, reopened.manifest().format());
            assertArrayEquals(image2, snapshotImage(reopened));
            assertArrayEquals(new byte[] {2}, reopened.committed().deviceState());
        }
        assertTrue(Files.notExists(live.resolve(ImageStore.STATE)), "state.bin is superseded by the log");
        // A crash after the log was started but before the manifest named it: the old files still rule.
        new CommitLog(copy, false).reset(1000, state1);
        Files.write(copy.resolve(ImageStore.JOURNAL), journal2);
        try (ImageStore reopened = ImageStore.open(copy, Durability.NONE)) {
            assertEquals(2, reopened.manifest().committedEpoch());
            assertArrayEquals(image2, snapshotImage(reopened));
            assertEquals(false, reopened.manifest().fullSyncRequired());
        }
    }

    /** With durability fsync the commit log is forced at each commit, and a reopened standby is at its last commit. */
    @Test
    void withDurabilityFsyncEveryCommitIsRecordedAndReopens() throws Exception {
        Path live = dir.resolve("live");
        byte[] image;
        try (ImageStore store = ImageStore.create(live, StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim", Map.of()),
                Durability.FSYNC)) {
            commit(store, 1, 0, true, randomPages(new Random(8), PAGES), CommittedOutputs.NONE);
            for (long epoch = 2; epoch <= 5; epoch++) {
                commit(store, epoch, epoch - 1, false, randomPages(new Random(epoch), 3), CommittedOutputs.NONE);
            }
            image = snapshotImage(store);
        }
        assertEquals(5, ImageStore.committedEpochOnDisk(live));
        try (ImageStore reopened = ImageStore.open(live, Durability.FSYNC)) {
            assertEquals(5, reopened.manifest().committedEpoch());
            assertEquals(false, reopened.manifest().fullSyncRequired());
            assertArrayEquals(new byte[] {5}, reopened.committed().deviceState());
            assertArrayEquals(image, snapshotImage(reopened));
            assertEquals(null, reopened.manifest().bootId(), "durable: no boot id to distrust the files by");
        }
    }

    /** A release that knows only formats up to 3 must refuse the new one rather than read a stale epoch from it. */
    @Test
    void theManifestOfACommitLogStandbyIsAFormatOlderReadersRefuse() throws Exception {
        Path live = dir.resolve("live");
        try (ImageStore store = ImageStore.create(live, StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim", Map.of()),
                Durability.NONE)) {
            commit(store, 1, 0, true, randomPages(new Random(6), PAGES), CommittedOutputs.NONE);
            commit(store, 2, 1, false, randomPages(new Random(7), 2), CommittedOutputs.NONE);
        }
        com.fasterxml.jackson.databind.JsonNode manifest =
                io.cpstream.snapshot.Snapshots.JSON.readTree(live.resolve(ImageStore.MANIFEST).toFile());
        assertTrue(manifest.get("format").asInt() > 3, "format " + manifest.get("format"));
        try (ImageStore reopened = ImageStore.open(live, Durability.NONE)) {
            assertEquals(2, reopened.manifest().committedEpoch(), "the log's epoch, not the manifest's");
        }
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
