package io.cpstream.tracker.kvm;

import static io.cpstream.tracker.kvm.KvmTestSupport.assumeKvm;
import static io.cpstream.tracker.kvm.KvmTestSupport.awaitOutput;
import static io.cpstream.tracker.kvm.KvmTestSupport.le64;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.BitSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The dirty set is exactly what the guest wrote: memtouch writes a known set of pages per step (and
 * nothing else in the data region), so the data-region part of each harvest must equal that set.
 * Outside the data region the guest only writes its own stack and variables. The same holds for the
 * emulated backend ({@code emu}), whose dirty pages come from the host page tables.
 */
class KvmDirtyTrackingTest {

    private static final int FIRST_DATA_PAGE = GuestAbi.firstDataPage();
    /** The guest's own writes outside the data region: its stack (below 0xF0000) and its image's variables. */
    private static final int OWN_LOW = 0xE0;
    private static final int OWN_HIGH = 0x110;

    /**
     * A memtouch guest's spec for a dirty mode of KVM ({@code bitmap}, {@code ring}, {@code pagemap}) or for the
     * emulated backend ({@code emu}, whose tracking is pagemap's), skipping with the reason where it cannot run.
     */
    private static String memtouch(String mode, String params) {
        if (mode.equals("emu")) {
            KvmTestSupport.assumeEmu();
            return "emu:guest=memtouch,mem=8m," + params;
        }
        assumeKvm();
        KvmTestSupport.assumeDirtyMode(mode);
        return "kvm:guest=memtouch,mem=8m,dirty=" + mode + "," + params;
    }

    @ParameterizedTest(name = "dirty={0}")
    @ValueSource(strings = {"bitmap", "ring", "pagemap", "emu"})
    void harvestReportsExactlyThePagesTheGuestWrote(String mode) {
        int pages = 12;
        int stride = 5;
        String spec = memtouch(mode, "pages=" + pages + ",stride=" + stride + ",mode=commanded");
        try (KvmSource source = KvmSource.open(spec)) {
            source.start();
            try (var stun = source.stun()) {
                assertEquals(source.pageCount(), stun.harvestDirty().cardinality(), "first harvest is every page");
            }
            int regionPages = source.pageCount() - FIRST_DATA_PAGE;

            source.offerInput(le64(1));
            awaitOutput(source, out -> out.longValue() == 0);
            assertHarvest(source, expected(0, 1, pages, stride, regionPages));

            source.offerInput(le64(2));
            awaitOutput(source, out -> out.longValue() == 2);
            assertHarvest(source, expected(1, 3, pages, stride, regionPages));

            // Nothing ran in between: the data region stays clean.
            assertHarvest(source, new BitSet());
        }
    }

    @ParameterizedTest(name = "dirty={0}")
    @ValueSource(strings = {"bitmap", "ring", "pagemap", "emu"})
    void pagesWrittenByTheVmmAreDirty(String mode) {
        try (KvmSource source = KvmSource.open(memtouch(mode, "mode=commanded"))) {
            source.start();
            try (var stun = source.stun()) {
                stun.harvestDirty(); // the first harvest is everything: get it out of the way
            }
            int last = source.pageCount() - 1;
            source.writeGuestMemory((long) last * GuestAbi.PAGE_SIZE + 100, new byte[] {1, 2, 3});
            // A write spanning two pages marks both.
            source.writeGuestMemory((long) (FIRST_DATA_PAGE + 7) * GuestAbi.PAGE_SIZE - 2, new byte[] {4, 5, 6, 7});
            BitSet dataDirty;
            try (var stun = source.stun()) {
                dataDirty = dataRegion(stun.harvestDirty());
            }
            BitSet expected = new BitSet();
            expected.set(last);
            expected.set(FIRST_DATA_PAGE + 6);
            expected.set(FIRST_DATA_PAGE + 7);
            assertEquals(expected, dataDirty);
        }
    }

    @org.junit.jupiter.api.Test
    void ringFullExitsLoseNoPages() {
        assumeKvm();
        // 100 steps of 48 distinct pages in one epoch: 4800 entries cannot fit a 4096-entry ring, so the
        // ring must fill and be reset mid-epoch (KVM_EXIT_DIRTY_RING_FULL) without losing a page. Steps
        // stay under KVM's 64-entry headroom between exits (see the README on ring overruns).
        int pages = 48;
        int steps = 100;
        String spec = "kvm:guest=memtouch,mem=32m,dirty=ring,ring-entries=4096,pages=" + pages + ",stride=1,mode=commanded";
        try (KvmSource source = KvmSource.open(spec)) {
            source.start();
            try (var stun = source.stun()) {
                stun.harvestDirty(); // the first harvest is everything: get it out of the way
            }
            int regionPages = source.pageCount() - FIRST_DATA_PAGE;
            source.offerInput(le64(steps));
            awaitOutput(source, out -> out.longValue() == steps - 1);
            assertHarvest(source, expected(0, steps, pages, 1, regionPages));
        }
    }

    private static void assertHarvest(KvmSource source, BitSet expectedData) {
        BitSet dirty;
        try (var stun = source.stun()) {
            dirty = stun.harvestDirty();
        }
        assertEquals(expectedData, dataRegion(dirty), "dirty pages in the data region");
        BitSet outside = (BitSet) dirty.clone();
        outside.clear(FIRST_DATA_PAGE, source.pageCount());
        outside.clear(OWN_LOW, OWN_HIGH);
        assertTrue(outside.isEmpty(), () -> "unexpected dirty pages outside the guest's own: " + outside);
    }

    private static BitSet dataRegion(BitSet dirty) {
        BitSet data = (BitSet) dirty.clone();
        data.clear(0, FIRST_DATA_PAGE);
        return data;
    }

    /** Mirrors memtouch.c: the pages steps [from, to) write. */
    private static BitSet expected(long from, long to, long pages, long stride, long regionPages) {
        BitSet set = new BitSet();
        for (long step = from; step < to; step++) {
            for (long i = 0; i < pages; i++) {
                set.set((int) (FIRST_DATA_PAGE + ((step * pages + i) * stride) % regionPages));
            }
        }
        return set;
    }
}
