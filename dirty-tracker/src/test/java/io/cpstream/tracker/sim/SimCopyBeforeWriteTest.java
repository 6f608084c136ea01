package io.cpstream.tracker.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.tracker.ProtectedPages;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.Stun;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.BitSet;
import org.junit.jupiter.api.Test;

/** Copy-before-write on the sim guest: protected pages read back as they were at the stun, however hard the writers hit them. */
class SimCopyBeforeWriteTest {

    @Test
    void protectedPagesYieldTheirStunContentWhileWritersHammerThem() throws Exception {
        try (SimSource sim = SimSource.open(SourceSpec.parse("sim:pages=256,workload=uniform,rate=0,writers=2,outputs=500"));
             Arena arena = Arena.ofConfined()) {
            int pages = sim.pageCount();
            long bytes = (long) pages * sim.pageSize();
            MemorySegment atStun = arena.allocate(bytes);
            MemorySegment copied = arena.allocate(bytes);
            sim.start();
            long faults = 0;
            for (int round = 0; round < 30; round++) {
                Thread.sleep(2);
                ProtectedPages protectedPages;
                BitSet all = new BitSet();
                all.set(0, pages);
                try (Stun stun = sim.stun()) {
                    stun.harvestDirty();
                    for (int page = 0; page < pages; page++) {
                        sim.copyPage(page, atStun, (long) page * sim.pageSize());
                    }
                    protectedPages = stun.protect(all);
                }
                Thread.sleep(1); // the writers run into protected pages before the copier gets to them
                try (ProtectedPages p = protectedPages) {
                    for (int page = 0; page < pages; page++) {
                        p.copyPage(page, copied, (long) page * sim.pageSize());
                    }
                    faults += p.cowFaults();
                }
                for (int page = 0; page < pages; page++) {
                    long at = (long) page * sim.pageSize();
                    assertEquals(-1, atStun.asSlice(at, sim.pageSize()).mismatch(copied.asSlice(at, sim.pageSize())),
                            "round " + round + ": page " + page + " is not as it was at the stun");
                }
            }
            assertTrue(faults > 0, "the writers never wrote a page before it was copied; nothing was tested");
            System.out.printf("sim copy-before-write: %d faults over 30 rounds of %d protected pages%n", faults, pages);
        }
    }

    @Test
    void aProtectedSetIsCopiedOncePerPageAndOnlyOneIsOpenAtATime() {
        try (SimSource sim = SimSource.open(SourceSpec.parse("sim:pages=16,workload=sparse,rate=1000,outputs=0"));
             Arena arena = Arena.ofConfined()) {
            MemorySegment page = arena.allocate(sim.pageSize());
            sim.start();
            BitSet some = new BitSet();
            some.set(3);
            some.set(5);
            ProtectedPages first;
            try (Stun stun = sim.stun()) {
                first = stun.protect(some);
            }
            try (Stun stun = sim.stun()) {
                assertThrows(IllegalStateException.class, () -> stun.protect(some));
            }
            first.copyPage(3, page, 0);
            assertThrows(IllegalStateException.class, () -> first.copyPage(3, page, 0));
            assertThrows(IllegalArgumentException.class, () -> first.copyPage(4, page, 0));
            first.close();
            assertThrows(IllegalStateException.class, () -> first.copyPage(5, page, 0));
            try (Stun stun = sim.stun(); ProtectedPages again = stun.protect(some)) {
                assertEquals(some, again.pages());
            }
        }
    }
}
