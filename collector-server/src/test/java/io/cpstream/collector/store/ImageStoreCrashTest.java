package io.cpstream.collector.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
        WHILE_STAGING, TORN_SEAL, AFTER_SEAL, HALFWAY_THROUGH_APPLY, BEFORE_MANIFEST_RENAME
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
            case BEFORE_MANIFEST_RENAME -> {
                Files.write(crashed.resolve(ImageStore.JOURNAL), sealedJournal);
                Files.copy(after.resolve(ImageStore.IMAGE), crashed.resolve(ImageStore.IMAGE),
                        StandardCopyOption.REPLACE_EXISTING);
                Files.copy(after.resolve(ImageStore.MANIFEST), crashed.resolve(ImageStore.MANIFEST + ".tmp"));
            }
        }
        try (ImageStore reopened = ImageStore.open(crashed, Durability.NONE)) {
            assertEquals(expectedEpoch, reopened.manifest().committedEpoch());
            assertArrayEquals(expectedEpoch == 2 ? image2 : image1, snapshotImage(reopened),
                    "the image is exactly epoch " + expectedEpoch);
            CommittedOutputs expectedOutputs = expectedEpoch == 2 ? outputs2 : outputs1;
            assertEquals(expectedOutputs.start(), reopened.manifest().outputs().start());
            assertEquals(expectedOutputs.end(), reopened.manifest().outputs().end());
        }
    }

    @Test
    void outputsThatDoNotContinueTheCommittedStreamAreRefused() {
        CommittedOutputs held = CommittedOutputs.NONE.advance(0, 3, List.of(new byte[1], new byte[1], new byte[1]), 0, true);
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> held.advance(4, 5, List.of(new byte[1]), 0, false), "a gap");
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> held.advance(1, 2, List.of(new byte[1]), 0, false), "going back");
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> held.advance(3, 5, List.of(new byte[1]), 0, false), "a count that does not match");
        CommittedOutputs next = held.advance(1, 5, List.of(new byte[1], new byte[1], new byte[1], new byte[1]), 4, false);
        assertEquals(4, next.start(), "released records are forgotten");
        assertEquals(5, next.end());
    }

    private static void commit(ImageStore store, long epoch, long base, boolean full, byte[][] pages,
                               CommittedOutputs outputs) throws IOException {
        store.begin(epoch, base, full, 1000 * epoch);
        for (int i = 0; i < pages.length; i++) {
            int page = full ? i : i * 2;
            store.stagePage(page, MemorySegment.ofArray(pages[i]));
        }
        store.stageDeviceState(new byte[] {(byte) epoch});
        store.stageOutputs(outputs);
        store.commit(epoch);
    }

    private static byte[] snapshotImage(ImageStore store) {
        return ImageDigest.sha256(store.image());
    }

    private static byte[][] randomPages(Random random, int count) {
        byte[][] pages = new byte[count][PAGE];
        for (byte[] page : pages) {
            random.nextBytes(page);
        }
        return pages;
    }

    private static void copyTree(Path from, Path to) throws IOException {
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
