package io.cpstream.tracker.process;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.Stun;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The process source against a real process ({@code memwriter}) whose memory the test changes. */
class ProcessSourceTest {

    private static final int PAGE = ProcessSource.PAGE_SIZE;

    @Test
    void harvestReportsWrittenPagesAndCopiesWhatTheProcessHolds() throws Exception {
        try (MemWriter writer = MemWriter.start()) {
            long[] region = writer.map(16);
            writer.fill(region[0], 2, 0x11);
            try (ProcessSource source = (ProcessSource) MemorySources.open("process:" + writer.pid())) {
                source.start();
                BitSet first = harvest(source);
                assertEquals(source.pageCount(), first.cardinality(), "every page is dirty on the first harvest");
                assertPage(source, region[1] + 2L * PAGE, 0x11);
                assertPage(source, region[1] + 3L * PAGE, 0);

                writer.fill(region[0], 3, 0x5a);
                writer.fill(region[0], 9, 0x5b);
                BitSet dirty = harvest(source);
                for (int page = 0; page < 16; page++) {
                    int guest = source.guestPageOf(region[1] + (long) page * PAGE);
                    assertTrue(guest >= 0, "page " + page + " of the region is protected");
                    assertEquals(page == 3 || page == 9, dirty.get(guest), "dirty bit of region page " + page);
                }
                assertPage(source, region[1] + 3L * PAGE, 0x5a);
                assertPage(source, region[1] + 9L * PAGE, 0x5b);

                BitSet quiet = harvest(source);
                for (int page = 0; page < 16; page++) {
                    assertFalse(quiet.get(source.guestPageOf(region[1] + (long) page * PAGE)), "unchanged page " + page);
                }
            }
        }
    }

    @Test
    void mappingsThatGrowShrinkAppearAndVanishAreFollowed() throws Exception {
        try (MemWriter writer = MemWriter.start();
             ProcessSource source = (ProcessSource) MemorySources.open("process:pid=" + writer.pid())) {
            long[] kept = writer.map(8);
            long[] doomed = writer.map(4);
            for (int page = 0; page < 8; page++) {
                writer.fill(kept[0], page, page + 1);
            }
            for (int page = 0; page < 4; page++) {
                writer.fill(doomed[0], page, 0x33);
            }
            harvest(source);
            int[] doomedGuest = new int[4];
            for (int page = 0; page < 4; page++) {
                doomedGuest[page] = source.guestPageOf(doomed[1] + (long) page * PAGE);
                assertTrue(doomedGuest[page] >= 0, "a mapping that appeared is protected");
            }
            int[] keptGuest = new int[8];
            for (int page = 0; page < 8; page++) {
                keptGuest[page] = source.guestPageOf(kept[1] + (long) page * PAGE);
            }

            writer.unmap(doomed[0]);
            long grownAt = writer.grow(kept[0], 64);
            writer.fill(kept[0], 40, 0x44);
            BitSet dirty = harvest(source);
            for (int page = 0; page < 4; page++) {
                assertTrue(dirty.get(doomedGuest[page]), "a vanished page is dirty");
                long address = doomed[1] + (long) page * PAGE;
                if (address < grownAt || address >= grownAt + 64L * PAGE) { // unless the grown region moved there
                    assertEquals(-1, source.guestPageOf(address));
                }
            }
            for (int page = 0; page < 64; page++) {
                assertPage(source, grownAt + (long) page * PAGE, page < 8 ? page + 1 : page == 40 ? 0x44 : 0);
            }
            if (grownAt == kept[1]) { // grown in place: the old pages stay put and clean
                for (int page = 0; page < 8; page++) {
                    assertEquals(keptGuest[page], source.guestPageOf(kept[1] + (long) page * PAGE), "page " + page + " stays put");
                    assertFalse(dirty.get(keptGuest[page]), "untouched page " + page + " is clean after growth");
                }
            }
            // A vanished page reads as zero unless a new mapping took its guest page.
            int released = 0;
            for (int guest : doomedGuest) {
                if (!source.holdsPage(guest)) {
                    assertGuestPage(source, guest, 0);
                    released++;
                }
            }
            System.out.println("process source: " + released + " of 4 vanished pages left unused, grown "
                    + (grownAt == kept[1] ? "in place" : "by moving"));
        }
    }

    @Test
    void stunStopsEveryThreadAndNothingChangesUntilResume() throws Exception {
        try (MemWriter writer = MemWriter.start();
             ProcessSource source = (ProcessSource) MemorySources.open("process:pid=" + writer.pid())) {
            long[] region = writer.map(1);
            writer.spin(region[0]);
            int counterPage;
            try (Stun stun = source.stun()) {
                assertTrue(ProcessStopper.allThreadsStopped(writer.pid()));
                stun.harvestDirty();
                counterPage = source.guestPageOf(region[1]);
                assertTrue(stun.harvestDirty().isEmpty(), "a stopped process writes nothing");
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> !ProcessStopper.allThreadsStopped(writer.pid()));
            await().atMost(Duration.ofSeconds(10)).until(() -> harvest(source).get(counterPage));
        }
    }

    /** Applying each harvest's pages to a copy keeps the copy equal to the whole memory, epoch after epoch. */
    @Test
    void harvestsKeepAShadowImageExactWhileTheProcessWrites() throws Exception {
        try (MemWriter writer = MemWriter.start();
             ProcessSource source = (ProcessSource) MemorySources.open("process:pid=" + writer.pid() + ",max=64m");
             Arena arena = Arena.ofConfined()) {
            long[] spinning = writer.map(2);
            writer.spin(spinning[0]);
            MemorySegment shadow = arena.allocate(source.memoryBytes(), PAGE);
            MemorySegment fresh = arena.allocate(source.memoryBytes(), PAGE);
            Random random = new Random(7);
            java.util.List<long[]> regions = new java.util.ArrayList<>();
            for (int epoch = 0; epoch < 12; epoch++) {
                switch (random.nextInt(4)) {
                    case 0 -> regions.add(writer.map(1 + random.nextInt(32)));
                    case 1 -> {
                        if (!regions.isEmpty()) {
                            writer.unmap(regions.remove(random.nextInt(regions.size()))[0]);
                        }
                    }
                    default -> {
                        if (!regions.isEmpty()) {
                            writer.fill(regions.get(random.nextInt(regions.size()))[0], 0, 1 + random.nextInt(255));
                        }
                    }
                }
                try (Stun stun = source.stun()) {
                    BitSet dirty = stun.harvestDirty();
                    for (int page = dirty.nextSetBit(0); page >= 0; page = dirty.nextSetBit(page + 1)) {
                        source.copyPage(page, shadow, (long) page * PAGE);
                    }
                    for (int page = 0; page < source.pageCount(); page++) {
                        source.copyPage(page, fresh, (long) page * PAGE);
                    }
                }
                assertEquals(-1, shadow.mismatch(fresh), "shadow differs from the process after epoch " + epoch);
            }
        }
    }

    @Test
    void tooMuchNewMemoryFailsTheHarvestWithAdvice() throws Exception {
        try (MemWriter writer = MemWriter.start()) {
            long writable = ProcessMaps.protectedMappings(writer.pid(), false).stream().mapToLong(Mapping::bytes).sum();
            try (ProcessSource source = (ProcessSource) MemorySources.open("process:pid=" + writer.pid() + ",max="
                    + (writable + 16 * PAGE))) {
                harvest(source);
                writer.map(64);
                try (Stun stun = source.stun()) {
                    PageLayout.FullException full = assertThrows(PageLayout.FullException.class, stun::harvestDirty);
                    assertTrue(full.getMessage().contains("max="), full.getMessage());
                }
            }
        }
    }

    @Test
    void badSpecsAreExplained() throws Exception {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> MemorySources.open("process:max=64m"))
                .getMessage().contains("pid"));
        assertThrows(IllegalArgumentException.class, () -> MemorySources.open("process:pid=12x"));
        assertThrows(IllegalArgumentException.class, () -> MemorySources.open("process:pid=1,colour=blue"));
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        assertThrows(ProcessGoneException.class, () -> ProcessSource.open(SourceSpec.parse("process:pid=" + gone.pid())));
    }

    private static BitSet harvest(MemorySource source) {
        try (Stun stun = source.stun()) {
            return stun.harvestDirty();
        }
    }

    private static void assertPage(ProcessSource source, long address, int value) {
        int guest = source.guestPageOf(address);
        assertTrue(guest >= 0, "address " + Long.toHexString(address) + " is protected");
        assertGuestPage(source, guest, value);
    }

    private static void assertGuestPage(ProcessSource source, int guest, int value) {
        byte[] expected = new byte[PAGE];
        java.util.Arrays.fill(expected, (byte) value);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment page = arena.allocate(PAGE);
            source.copyPage(guest, page, 0);
            assertArrayEquals(expected, page.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), "guest page " + guest);
        }
    }
}
