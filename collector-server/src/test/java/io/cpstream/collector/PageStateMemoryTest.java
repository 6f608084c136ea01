package io.cpstream.collector;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.collector.store.Durability;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.collector.store.StandbyManifest;
import io.cpstream.encoder.PageBatchCheck;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.encoder.SparseBits;
import io.cpstream.encoder.SparseLongs;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 19: a standby's per-page state (versions, delta verdicts) costs heap for the pages written, not for the
 * guest size a Hello declares. Measured by the structures' own accounting, never by GC timing.
 */
class PageStateMemoryTest {

    private static final int PAGE = 4096;
    /** 64 GiB, the default --max-guest-bytes. */
    private static final long PAGES = (64L << 30) / PAGE;

    @TempDir
    Path dir;

    @Test
    void aLargeDeclaredGuestWithAFewPagesWrittenHoldsHeapForThosePages() throws Exception {
        try (ImageStore store = ImageStore.create(dir.resolve("vm"),
                StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim", Map.of()), Durability.NONE)) {
            VersionedImage image = new VersionedImage(store);
            long empty = image.heapBytes();
            // The fixed part: a directory of 16 bytes per 1024 pages (versions) and per 8192 pages (verdicts).
            long directory = 16 * (PAGES / SparseLongs.LEAF) + 16 * (PAGES / 8 / SparseLongs.LEAF) + 128;
            assertTrue(empty <= directory, "empty standby holds " + empty + " bytes, more than " + directory);
            assertTrue(empty < PAGES / 32, "the fixed part is far below a byte per page: " + empty);

            long[] written = {3, 4, 5, 1_000_000, PAGES - 1};
            SparseBits epoch = new SparseBits(PAGES);
            for (long page : written) {
                epoch.set(page);
            }
            image.committed(epoch, 7);
            for (long page : written) {
                assertEquals(7, image.version(page));
            }
            assertEquals(0, image.version(6));
            assertEquals(0, image.version(PAGES - 2));
            // Three leaves of versions hold these pages: one for 3..5, one for 1,000,000, one for the last.
            assertEquals(empty + 3 * SparseLongs.LEAF_BYTES, image.heapBytes());

            // Verdicts, for pages judged on a later epoch: one leaf of 8192 pages' verdicts.
            MemorySegment held = MemorySegment.ofArray(new byte[PAGE]);
            MemorySegment decoded = MemorySegment.ofArray(new byte[PAGE]);
            decoded.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 10, (byte) 1);
            // A verdict counts once its batch verifies (protocol 5): a batch that rebuilt no page checks as empty.
            image.decoder().beginBatch();
            image.decoder().observe(4, PageEncoding.FULL, -1, 7, held, decoded);
            image.decoder().endBatch(new PageBatchCheck().value());
            assertTrue(image.decoder().hasNews());
            assertEquals(1, image.decoder().drainCandidates().length);
            assertEquals(empty + 4 * SparseLongs.LEAF_BYTES, image.heapBytes());

            image.forgetVersions();
            image.decoder().reset();
            assertEquals(empty, image.heapBytes());
            assertEquals(0, image.version(4));
        }
    }

    @Test
    void aFullCheckpointOfOneEpochCostsNoLeaves() throws Exception {
        long pages = 64L * SparseLongs.LEAF + 100; // 256 MiB and a bit: the last leaf is partial
        try (ImageStore store = ImageStore.create(dir.resolve("full"),
                StandbyManifest.fresh("full", PAGE, pages, 0, "sim", Map.of()), Durability.NONE)) {
            VersionedImage image = new VersionedImage(store);
            long empty = image.heapBytes();
            SparseBits all = new SparseBits(pages);
            for (long page = 0; page < pages; page++) {
                all.set(page);
            }
            image.committed(all, 1);
            for (long page = 0; page < pages; page += 997) {
                assertEquals(1, image.version(page));
            }
            assertEquals(1, image.version(pages - 1));
            // Whole leaves become one value each; only the partial last leaf holds an array.
            assertEquals(empty + SparseLongs.LEAF_BYTES, image.heapBytes());
            SparseBits one = new SparseBits(pages);
            one.set(2048);
            image.committed(one, 2);
            assertEquals(2, image.version(2048));
            assertEquals(1, image.version(2047));
            assertEquals(1, image.version(2049));
            assertEquals(empty + 2 * SparseLongs.LEAF_BYTES, image.heapBytes());
        }
    }
}
