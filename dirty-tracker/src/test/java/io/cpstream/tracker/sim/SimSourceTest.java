package io.cpstream.tracker.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.Stun;
import io.cpstream.tracker.StunContract;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.junit.jupiter.api.Test;

class SimSourceTest {

    @Test
    void harvestReportsExactlyThePagesThatChangedSinceTheLastStun() throws Exception {
        try (SimSource sim = SimSource.open(SourceSpec.parse("sim:pages=512,workload=sparse,rate=20000,outputs=50"));
             Arena arena = Arena.ofConfined()) {
            int pages = sim.pageCount();
            MemorySegment before = arena.allocate((long) pages * sim.pageSize());
            MemorySegment after = arena.allocate((long) pages * sim.pageSize());
            sim.start();
            try (Stun stun = sim.stun()) {
                assertEquals(pages, stun.harvestDirty().cardinality(), "every page is dirty before the first harvest");
                copyAll(sim, before);
            }
            for (int round = 0; round < 5; round++) {
                Thread.sleep(30);
                try (Stun stun = sim.stun()) {
                    BitSet dirty = stun.harvestDirty();
                    copyAll(sim, after);
                    for (int page = 0; page < pages; page++) {
                        boolean changed = !slice(before, page).asByteBuffer().equals(slice(after, page).asByteBuffer());
                        if (changed) {
                            assertTrue(dirty.get(page), "page " + page + " changed but was not reported dirty");
                        }
                    }
                    MemorySegment.copy(after, 0, before, 0, after.byteSize());
                    assertFalse(dirty.isEmpty());
                }
            }
        }
    }

    @Test
    void outputsTakenWhileStunnedAreExactlyThoseWhoseCauseIsInTheCheckpoint() throws Exception {
        try (SimSource sim = SimSource.open(SourceSpec.parse("sim:pages=64,workload=uniform,rate=1000,outputs=2000"))) {
            sim.start();
            List<GuestOutput> all = new ArrayList<>();
            for (int round = 0; round < 10; round++) {
                Thread.sleep(10);
                try (Stun stun = sim.stun()) {
                    stun.harvestDirty();
                    List<GuestOutput> taken = sim.pollOutputs();
                    all.addAll(taken);
                    long counter = sim.outputCounter();
                    assertEquals(counter, all.size(), "every output up to the counter in memory, and no other");
                    if (!taken.isEmpty()) {
                        assertEquals(counter, taken.getLast().longValue());
                        assertEquals(round + 1, taken.getLast().epoch(), "tagged with the stun that follows it");
                    }
                }
            }
            for (int i = 0; i < all.size(); i++) {
                assertEquals(i, all.get(i).index());
                assertEquals(i + 1, all.get(i).longValue());
            }
            assertTrue(all.size() > 10, "the guest emitted " + all.size() + " outputs");
        }
    }

    @Test
    void repeatedStunsKeepTheStunContract() {
        // Writes almost never: the outputs' own writes are the dirty pages the contract looks for.
        try (SimSource sim = SimSource.open(SourceSpec.parse("sim:pages=64,workload=uniform,rate=1,outputs=2000"))) {
            sim.start();
            StunContract.Run run = StunContract.check(sim, 100, Duration.ofMillis(1));
            assertTrue(run.outputs() > 0, run::toString);
        }
    }

    @Test
    void thePauseEndsWhereCloseLetsTheGuestGo() throws Exception {
        try (SimSource sim = SimSource.open(SourceSpec.parse("sim:pages=64,workload=uniform,rate=0,outputs=0"))) {
            sim.start();
            Thread.sleep(5);
            long resumedAt;
            long beforeClose;
            long afterClose;
            long writesAtResume;
            try (Stun stun = sim.stun()) {
                assertEquals(-1, stun.resumedAtNanos(), "no resume time while the stun is open");
                writesAtResume = sim.operations();
                beforeClose = System.nanoTime();
                stun.close();
                afterClose = System.nanoTime();
                resumedAt = stun.resumedAtNanos();
                stun.close();
                assertEquals(resumedAt, stun.resumedAtNanos(), "a second close does not move the resume time");
            }
            assertTrue(resumedAt >= beforeClose && resumedAt <= afterClose,
                    "the resume time must fall inside close(): " + (resumedAt - beforeClose) + " ns after its call");
            org.awaitility.Awaitility.await().until(() -> sim.operations() > writesAtResume);
        }
    }

    @Test
    void rejectsAGuestTooSmallForItsOutputCounter() {
        assertThrows(IllegalArgumentException.class, () -> SimSource.open(SourceSpec.parse("sim:pages=1")));
    }

    @Test
    void withoutOutputsTheChannelStaysEmpty() throws Exception {
        try (SimSource sim = SimSource.open(SourceSpec.parse("sim:pages=16,outputs=0"))) {
            sim.start();
            Thread.sleep(20);
            try (Stun stun = sim.stun()) {
                assertTrue(sim.pollOutputs().isEmpty());
            }
        }
    }

    private static void copyAll(SimSource sim, MemorySegment into) {
        for (int page = 0; page < sim.pageCount(); page++) {
            sim.copyPage(page, into, (long) page * sim.pageSize());
        }
    }

    private static MemorySegment slice(MemorySegment image, int page) {
        return image.asSlice((long) page * 4096, 4096);
    }
}
