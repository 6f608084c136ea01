package io.cpstream.collector.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.encoder.ImageDigest;
import io.cpstream.snapshot.CommittedOutputs;
import io.cpstream.snapshot.Snapshots;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 19: identical pages of several standbys are stored once in the collector's shared page store, a write to
 * one of them copies, and no standby's committed image, replay or snapshot differs from what it would be unshared.
 */
class SharedPagesTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 64;
    private static final int VMS = 4;

    @TempDir
    Path dir;

    /** One template image: random pages, one in eight zero. Each VM changes {@code own} pages of it. */
    private static byte[][] template() {
        Random random = new Random(42);
        byte[][] pages = new byte[PAGES][PAGE];
        for (int i = 0; i < PAGES; i++) {
            if (i % 8 != 7) {
                random.nextBytes(pages[i]);
            }
        }
        return pages;
    }

    private static byte[][] cloneOf(byte[][] template, int vm, int own) {
        byte[][] pages = new byte[PAGES][];
        Random random = new Random(vm);
        for (int i = 0; i < PAGES; i++) {
            pages[i] = template[i].clone();
        }
        for (int i = 0; i < own; i++) {
            random.nextBytes(pages[i * 2]);
        }
        return pages;
    }

    @Test
    void identicalPagesAreStoredOnceAndAWriteCopies() throws Exception {
        byte[][] template = template();
        int nonZero = PAGES - PAGES / 8;
        try (SharedPages shared = SharedPages.open(dir.resolve("shared"), PAGE, 10_000, true)) {
            List<ImageStore> stores = new ArrayList<>();
            List<byte[][]> images = new ArrayList<>();
            try {
                for (int vm = 0; vm < VMS; vm++) {
                    ImageStore store = ImageStore.create(dir.resolve("vm" + vm), StandbyManifest.fresh("vm" + vm, PAGE,
                            PAGES, 0, "sim", Map.of()), Durability.NONE, JournalBuffers.single(), shared);
                    stores.add(store);
                    assertEquals(StandbyManifest.FORMAT, store.manifest().format());
                    byte[][] image = cloneOf(template, vm, 3);
                    images.add(image);
                    commitAll(store, 1, image);
                }
                // 3 pages of its own per VM (which replace 3 of the template's), the rest of the template once.
                assertEquals(nonZero - 3 + 3 * VMS, shared.slotsInUse());
                assertEquals((long) nonZero * VMS, shared.references());
                assertEquals((nonZero * VMS - shared.slotsInUse()) * PAGE, shared.savedBytes());
                for (int vm = 0; vm < VMS; vm++) {
                    assertArrayEquals(digest(images.get(vm)), stores.get(vm).sha256(), "vm" + vm);
                }
                ImageStore.SharingStats first = stores.get(0).sharing();
                assertEquals(nonZero - 3, first.sharedPages());
                assertTrue(first.savedBytes() > 0);

                // vm0 rewrites a page every VM shares: only vm0 sees it (copy on write), then writes it back.
                byte[] changed = new byte[PAGE];
                new Random(7).nextBytes(changed);
                commitPage(stores.get(0), 2, 1, 10, changed);
                images.get(0)[10] = changed;
                for (int vm = 0; vm < VMS; vm++) {
                    assertArrayEquals(digest(images.get(vm)), stores.get(vm).sha256(), "vm" + vm + " after vm0's write");
                }
                assertEquals(nonZero - 3 + 3 * VMS + 1, shared.slotsInUse());
                // A page written zero leaves the store; one written back to the template's content shares again.
                commitPage(stores.get(1), 2, 1, 12, new byte[PAGE]);
                images.get(1)[12] = new byte[PAGE];
                commitPage(stores.get(0), 3, 2, 10, template[10]);
                images.get(0)[10] = template[10];
                assertEquals(nonZero - 3 + 3 * VMS, shared.slotsInUse());
                assertEquals((long) nonZero * VMS - 1, shared.references());
                for (int vm = 0; vm < VMS; vm++) {
                    assertArrayEquals(digest(images.get(vm)), stores.get(vm).sha256(), "vm" + vm);
                    // A snapshot (what a promotion writes) holds exactly the image, whatever is shared.
                    Snapshots.SnapshotManifest snapshot = Snapshots.write(dir.resolve("snap" + vm),
                            new Snapshots.Contents("vm" + vm, 9, 1, PAGE, PAGES, 0, "sim", Map.of(),
                                    CommittedOutputs.NONE, stores.get(vm)::page, new byte[0]));
                    assertEquals(ImageDigest.hex(digest(images.get(vm))), snapshot.memorySha256());
                    assertArrayEquals(flatten(images.get(vm)), Files.readAllBytes(dir.resolve("snap" + vm)
                            .resolve(snapshot.memoryFile())));
                }
            } finally {
                for (ImageStore store : stores) {
                    store.close();
                }
            }
            // Reopened by a collector that counts the maps again: the same images, the same counts.
            long slots = shared.slotsInUse();
            long references = shared.references();
            try (SharedPages again = SharedPages.open(dir.resolve("shared"), PAGE, 10_000, true)) {
                for (int vm = 0; vm < VMS; vm++) {
                    ImageStore.pinShared(dir.resolve("vm" + vm), again);
                }
                again.pinned();
                assertEquals(slots, again.slotsInUse());
                assertEquals(references, again.references());
                for (int vm = 0; vm < VMS; vm++) {
                    try (ImageStore store = ImageStore.open(dir.resolve("vm" + vm), Durability.NONE,
                            JournalBuffers.single(), again)) {
                        assertArrayEquals(digest(images.get(vm)), store.sha256(), "vm" + vm + " reopened");
                    }
                }
                // Deleting vm3 releases what only it held.
                ImageStore.unpinShared(dir.resolve("vm3"), again);
                assertEquals(slots - 3, again.slotsInUse());
            }
        }
    }

    @Test
    void aCrashAfterTheSealReplaysOntoTheSharedStore() throws Exception {
        byte[][] template = template();
        byte[][] a = cloneOf(template, 1, 2);
        byte[][] b = cloneOf(template, 2, 2);
        Path before = dir.resolve("before");
        byte[] changed = new byte[PAGE];
        new Random(9).nextBytes(changed);
        try (SharedPages shared = SharedPages.open(dir.resolve("shared"), PAGE, 10_000, true);
             ImageStore storeA = ImageStore.create(dir.resolve("a"), StandbyManifest.fresh("a", PAGE, PAGES, 0, "sim",
                     Map.of()), Durability.NONE, JournalBuffers.single(), shared);
             ImageStore storeB = ImageStore.create(dir.resolve("b"), StandbyManifest.fresh("b", PAGE, PAGES, 0, "sim",
                     Map.of()), Durability.NONE, JournalBuffers.single(), shared)) {
            commitAll(storeA, 1, a);
            commitAll(storeB, 1, b);
            Files.createDirectories(before);
            for (String file : List.of(ImageStore.MANIFEST, CommitLog.FILE)) {
                Files.copy(dir.resolve("a").resolve(file), before.resolve(file));
            }
            commitPage(storeA, 2, 1, 20, changed); // page 20 is shared with b
        }
        a[20] = changed;
        // The process died after epoch 2 was sealed and applied, before its commit was appended to the commit log.
        for (String file : List.of(ImageStore.MANIFEST, CommitLog.FILE)) {
            Files.copy(before.resolve(file), dir.resolve("a").resolve(file), StandardCopyOption.REPLACE_EXISTING);
        }
        try (SharedPages shared = SharedPages.open(dir.resolve("shared"), PAGE, 10_000, true)) {
            ImageStore.pinShared(dir.resolve("a"), shared);
            ImageStore.pinShared(dir.resolve("b"), shared);
            shared.pinned();
            try (ImageStore storeA = ImageStore.open(dir.resolve("a"), Durability.NONE, JournalBuffers.single(), shared);
                 ImageStore storeB = ImageStore.open(dir.resolve("b"), Durability.NONE, JournalBuffers.single(),
                         shared)) {
                assertEquals(2, storeA.manifest().committedEpoch());
                assertArrayEquals(digest(a), storeA.sha256());
                assertArrayEquals(digest(b), storeB.sha256());
                int nonZero = PAGES - PAGES / 8;
                assertEquals(2L * nonZero, shared.references());
            }
        }
    }

    @Test
    void aCollectorWithoutTheSharedStoreRefusesAStandbyThatUsesIt() throws Exception {
        try (SharedPages shared = SharedPages.open(dir.resolve("shared"), PAGE, 100, true);
             ImageStore store = ImageStore.create(dir.resolve("vm"), StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim",
                     Map.of()), Durability.NONE, JournalBuffers.single(), shared)) {
            commitAll(store, 1, template());
        }
        IOException refused = assertThrows(IOException.class, () -> ImageStore.open(dir.resolve("vm"), Durability.NONE));
        assertTrue(refused.getMessage().contains("shared page store"), refused.getMessage());
    }

    @Test
    void aStandbyWithoutSharingIsUpgradedAndKeepsItsImage() throws Exception {
        byte[][] template = template();
        try (ImageStore store = ImageStore.create(dir.resolve("vm"), StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim",
                Map.of()), Durability.NONE)) {
            commitAll(store, 1, template);
            assertEquals(false, store.manifest().sharesPages());
        }
        try (SharedPages shared = SharedPages.open(dir.resolve("shared"), PAGE, 100, true);
             ImageStore store = ImageStore.open(dir.resolve("vm"), Durability.NONE, JournalBuffers.single(), shared)) {
            assertEquals(StandbyManifest.FORMAT, store.manifest().format());
            assertArrayEquals(digest(template), store.sha256());
            byte[] changed = new byte[PAGE];
            new Random(3).nextBytes(changed);
            commitPage(store, 2, 1, 0, changed); // now in the shared store; the stale copy in image.mem is not read
            template[0] = changed;
            commitPage(store, 3, 2, 0, new byte[PAGE]); // back to the image, as zeros over the stale copy
            template[0] = new byte[PAGE];
            assertArrayEquals(digest(template), store.sha256());
            assertEquals(0, shared.references());
        }
    }

    private static void commitAll(ImageStore store, long epoch, byte[][] pages) throws IOException {
        store.begin(epoch, 0, true, 1000 * epoch);
        for (int i = 0; i < pages.length; i++) {
            store.stagePage(i, MemorySegment.ofArray(pages[i]));
        }
        store.stageState(new CommittedState(epoch, new byte[] {(byte) epoch}, CommittedOutputs.NONE, null));
        store.commit(epoch);
    }

    private static void commitPage(ImageStore store, long epoch, long base, int page, byte[] content)
            throws IOException {
        store.begin(epoch, base, false, 1000 * epoch);
        store.stagePage(page, MemorySegment.ofArray(content));
        store.stageState(new CommittedState(epoch, new byte[] {(byte) epoch}, CommittedOutputs.NONE, null));
        store.commit(epoch);
    }

    private static byte[] flatten(byte[][] pages) {
        byte[] image = new byte[PAGES * PAGE];
        for (int i = 0; i < PAGES; i++) {
            System.arraycopy(pages[i], 0, image, i * PAGE, PAGE);
        }
        return image;
    }

    private static byte[] digest(byte[][] pages) {
        return ImageDigest.sha256(flatten(pages));
    }
}
