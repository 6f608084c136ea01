package io.cpstream.collector.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.encoder.ImageDigest;
import io.cpstream.snapshot.CommittedOutputs;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 19: the journals of all VMs share a bounded pool of direct buffers. Many VMs committing at once never hold
 * more than the pool, a VM waiting on its agent holds none, and an empty pool makes a message fail after a bounded
 * wait with the committed standby untouched, never a deadlock.
 */
class JournalBuffersTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 300; // more than one buffer's worth of page records per epoch

    @TempDir
    Path dir;

    @Test
    void aBufferGivenBackGoesToTheOldestWaiterNotToWhoeverAsksNext() throws Exception {
        JournalBuffers pool = new JournalBuffers(1, Duration.ofSeconds(30));
        JournalBuffers.Buffer held = pool.borrow();
        List<String> served = java.util.Collections.synchronizedList(new ArrayList<>());
        Thread waiter = Thread.ofPlatform().start(() -> {
            try {
                JournalBuffers.Buffer buffer = pool.borrow();
                served.add("waiter");
                Thread.sleep(50);
                pool.release(buffer);
            } catch (IOException | InterruptedException e) {
                served.add("waiter failed: " + e);
            }
        });
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> pool.stats().waits() == 1);
        // The holder gives its buffer back and asks again at once, as a VM does between two messages.
        pool.release(held);
        JournalBuffers.Buffer again = pool.borrow();
        served.add("holder");
        pool.release(again);
        waiter.join();
        assertEquals(List.of("waiter", "holder"), served, "the waiter, who asked first, is served first");
    }

    @Test
    void manyVmsCommittingAtOnceStayWithinThePool() throws Exception {
        int vms = 8;
        JournalBuffers pool = new JournalBuffers(2, Duration.ofSeconds(60));
        CyclicBarrier begun = new CyclicBarrier(vms);
        ExecutorService threads = Executors.newFixedThreadPool(vms);
        List<Future<byte[]>> digests = new ArrayList<>();
        List<byte[]> expected = new ArrayList<>();
        try {
            for (int v = 0; v < vms; v++) {
                Path vmDir = dir.resolve("vm" + v);
                byte[][] pages = pages(new Random(v), PAGES);
                byte[] image = new byte[PAGE * PAGES];
                for (int i = 0; i < PAGES; i++) {
                    System.arraycopy(pages[i], 0, image, i * PAGE, PAGE);
                }
                expected.add(ImageDigest.sha256(image));
                digests.add(threads.submit(() -> {
                    try (ImageStore store = ImageStore.create(vmDir, StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim",
                            Map.of()), Durability.NONE, pool, null)) {
                        store.begin(1, 0, true, 1000);
                        store.yieldJournalBuffer(); // the stream now waits on its agent: it holds nothing
                        begun.await(30, TimeUnit.SECONDS); // every VM has an open epoch at once
                        for (int i = 0; i < PAGES; i++) {
                            store.stagePage(i, MemorySegment.ofArray(pages[i]));
                            if (i % 50 == 49) {
                                store.yieldJournalBuffer(); // one message's worth
                            }
                        }
                        store.stageState(new CommittedState(1, new byte[] {1}, CommittedOutputs.NONE, null));
                        store.commit(1);
                        return store.sha256();
                    }
                }));
            }
            for (int v = 0; v < vms; v++) {
                assertArrayEquals(expected.get(v), digests.get(v).get(60, TimeUnit.SECONDS), "image of vm" + v);
            }
        } finally {
            threads.shutdownNow();
        }
        JournalBuffers.Stats stats = pool.stats();
        assertTrue(stats.allocated() <= 2, "allocated " + stats);
        assertTrue(stats.peakInUse() <= 2, "peak " + stats);
        assertEquals(0, stats.inUse());
        assertTrue(stats.directBytes() <= 2L * JournalBuffers.BUFFER_BYTES);
        for (int v = 0; v < vms; v++) {
            try (ImageStore reopened = ImageStore.open(dir.resolve("vm" + v), Durability.NONE, pool, null)) {
                assertEquals(1, reopened.manifest().committedEpoch());
                assertArrayEquals(expected.get(v), reopened.sha256());
            }
        }
    }

    @Test
    void anEmptyPoolFailsTheMessageAfterABoundedWaitAndCommitsNothing() throws Exception {
        JournalBuffers pool = new JournalBuffers(1, Duration.ofMillis(200));
        byte[][] pages = pages(new Random(1), 4);
        try (ImageStore a = ImageStore.create(dir.resolve("a"), StandbyManifest.fresh("a", PAGE, 4, 0, "sim", Map.of()),
                Durability.NONE, pool, null);
             ImageStore b = ImageStore.create(dir.resolve("b"), StandbyManifest.fresh("b", PAGE, 4, 0, "sim", Map.of()),
                     Durability.NONE, pool, null)) {
            commit(b, 1, pages);
            byte[] bImage = b.sha256();
            a.begin(1, 0, true, 1000);
            a.stagePage(0, MemorySegment.ofArray(pages[0])); // a holds the only buffer, mid-message
            IOException refused = assertThrows(IOException.class, () -> b.begin(2, 1, false, 2000));
            assertTrue(refused.getMessage().contains("journal-buffers"), refused.getMessage());
            assertEquals(1, pool.stats().timeouts());
            b.abort();
            assertEquals(1, b.manifest().committedEpoch());
            assertArrayEquals(bImage, b.sha256());
            a.yieldJournalBuffer(); // a's message is done: b may go on
            b.begin(2, 1, false, 2000);
            b.stagePage(3, MemorySegment.ofArray(pages[0]));
            b.stageState(new CommittedState(2, new byte[] {2}, CommittedOutputs.NONE, null));
            b.commit(2);
            for (int i = 1; i < 4; i++) {
                a.stagePage(i, MemorySegment.ofArray(pages[i]));
            }
            a.stageState(new CommittedState(1, new byte[] {1}, CommittedOutputs.NONE, null));
            a.commit(1);
            assertEquals(2, b.manifest().committedEpoch());
            assertEquals(1, a.manifest().committedEpoch());
            assertEquals(0, pool.stats().inUse());
        }
    }

    @Test
    void aDroppedEpochGivesItsBufferBack() throws Exception {
        JournalBuffers pool = new JournalBuffers(1, Duration.ofMillis(200));
        byte[][] pages = pages(new Random(2), 2);
        try (ImageStore store = ImageStore.create(dir.resolve("c"), StandbyManifest.fresh("c", PAGE, 2, 0, "sim",
                Map.of()), Durability.NONE, pool, null)) {
            store.begin(1, 0, true, 1000);
            store.stagePage(0, MemorySegment.ofArray(pages[0]));
            assertEquals(1, pool.stats().inUse());
            store.abort();
            assertEquals(0, pool.stats().inUse());
            commit(store, 1, pages);
            assertEquals(1, store.manifest().committedEpoch());
        }
    }

    private static void commit(ImageStore store, long epoch, byte[][] pages) throws IOException {
        store.begin(epoch, 0, true, 1000 * epoch);
        for (int i = 0; i < pages.length; i++) {
            store.stagePage(i, MemorySegment.ofArray(pages[i]));
        }
        store.stageState(new CommittedState(epoch, new byte[] {(byte) epoch}, CommittedOutputs.NONE, null));
        store.commit(epoch);
    }

    private static byte[][] pages(Random random, int count) {
        byte[][] pages = new byte[count][PAGE];
        for (byte[] page : pages) {
            random.nextBytes(page);
        }
        return pages;
    }
}
