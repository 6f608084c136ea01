package io.cpstream.tracker.kvm;

import static io.cpstream.tracker.kvm.KvmTestSupport.assumeKvm;
import static io.cpstream.tracker.kvm.KvmTestSupport.awaitOutput;
import static io.cpstream.tracker.kvm.KvmTestSupport.le64;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.tracker.ProtectedPages;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.BitSet;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Copy-before-write on a real VM: every page is write-protected at a stun, the guest is made to write a
 * known set of them right after the resume (and the VMM writes one more), and every protected page still
 * reads back as it was at the stun. Skips, saying why, without /dev/kvm or userfaultfd write-protect.
 */
class KvmCopyBeforeWriteTest {

    private static final int FIRST_DATA_PAGE = GuestAbi.firstDataPage();

    @BeforeEach
    void requireKvm() {
        assumeKvm();
    }

    @Test
    void protectedPagesWrittenRightAfterTheResumeKeepTheirStunContent() {
        int pages = 16;
        int steps = 8;
        try (KvmSource source = KvmSource.open("kvm:guest=memtouch,mem=8m,pages=" + pages + ",stride=3,mode=commanded")) {
            KvmTestSupport.assumeProtection(source);
            source.start();
            source.offerInput(le64(1));
            awaitOutput(source, out -> out.longValue() == 0);
            int pageSize = source.pageSize();
            byte[] atStun;
            ProtectedPages protectedPages;
            BitSet all = new BitSet();
            all.set(0, source.pageCount());
            try (var stun = source.stun()) {
                stun.harvestDirty();
                atStun = KvmTestSupport.memoryImage(source);
                protectedPages = stun.protect(all);
            }
            // Right after the resume: the guest rewrites 8 steps x 16 pages, the VMM writes the last page.
            source.offerInput(le64(steps));
            int last = source.pageCount() - 1;
            source.writeGuestMemory((long) last * pageSize + 64, new byte[] {42, 43, 44});
            awaitOutput(source, out -> out.longValue() == steps);

            byte[] live = KvmTestSupport.memoryImage(source);
            BitSet written = new BitSet();
            for (int page = 0; page < source.pageCount(); page++) {
                if (!Arrays.equals(atStun, page * pageSize, (page + 1) * pageSize, live, page * pageSize, (page + 1) * pageSize)) {
                    written.set(page);
                }
            }
            assertTrue(written.get(last), "the VMM write landed");
            assertTrue(written.get(FIRST_DATA_PAGE + (pages * 3) % (source.pageCount() - FIRST_DATA_PAGE)),
                    "the guest wrote its data pages after the resume");

            byte[] copied = new byte[atStun.length];
            MemorySegment into = MemorySegment.ofArray(copied);
            try (ProtectedPages p = protectedPages) {
                for (int page = 0; page < source.pageCount(); page++) {
                    p.copyPage(page, into, (long) page * pageSize);
                }
                assertThrows(RuntimeException.class, () -> p.copyPage(0, into, 0), "a page is copied once");
                // Every page the guest or VMM changed faulted before the copier reached it.
                assertTrue(p.cowFaults() >= written.cardinality(),
                        p.cowFaults() + " faults for " + written.cardinality() + " written pages");
                System.out.printf("kvm copy-before-write: %d pages written after the resume, %d faults%n",
                        written.cardinality(), p.cowFaults());
            }
            assertArrayEquals(atStun, copied, "protected pages read back as they were at the stun");
            assertFalse(source.fault().isPresent(), () -> "guest faulted: " + source.fault().orElse(""));

            // Protection is lifted: the guest keeps running and the next stun can protect again.
            source.offerInput(le64(1));
            awaitOutput(source, out -> out.longValue() == steps + 1);
            try (var stun = source.stun(); ProtectedPages again = stun.protect(all)) {
                assertEquals(all, again.pages());
            }
        }
    }

    @Test
    void pagemapTrackingLeavesNoRoomForCopyBeforeWrite() {
        KvmTestSupport.assumeDirtyMode("pagemap");
        try (KvmSource source = KvmSource.open("kvm:guest=counter,mem=4m,dirty=pagemap")) {
            assertTrue(source.protectionUnavailable().orElse("").contains("dirty=pagemap"),
                    () -> "reason: " + source.protectionUnavailable());
        }
    }
}
