package io.cpstream.tracker.kvm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.SourceSpec;
import org.junit.jupiter.api.Test;

/** Spec parsing and the kv wire format; only the last test needs KVM. */
class KvmSpecTest {

    @Test
    void parsesDefaultsAndGuestParameters() {
        KvmConfig c = KvmConfig.parse(SourceSpec.parse("kvm:guest=memtouch,mem=16m,pages=3,stride=7,mode=commanded"));
        assertEquals(KvmConfig.Guest.MEMTOUCH, c.guest());
        assertEquals(16L << 20, c.memBytes());
        assertEquals(KvmConfig.DirtyMode.BITMAP, c.dirty());
        assertArrayEquals(new long[] {3, 7, 1}, c.guestArgs());
        KvmConfig d = KvmConfig.parse(SourceSpec.parse("kvm"));
        assertEquals(KvmConfig.Guest.COUNTER, d.guest());
        assertEquals(64L << 20, d.memBytes());
    }

    @Test
    void rejectsBadSpecs() {
        for (String bad : new String[] {
            "kvm:guest=nope", "kvm:mem=3m", "kvm:mem=5m", "kvm:mem=2g", "kvm:dirty=pml", "kvm:vcpus=9",
            "kvm:dirty=ring,ring-entries=1000", "kvm:guest=counter,slots=4", "kvm:guest=memtouch,mode=later",
        }) {
            assertThrows(IllegalArgumentException.class, () -> KvmConfig.parse(SourceSpec.parse(bad)), bad);
        }
    }

    @Test
    void kvRequestsAndResponsesRoundTrip() {
        byte[] request = KvProtocol.put(7, new byte[] {1}, new byte[] {2, 3});
        assertEquals(16 + 1 + 2, request.length);
        assertEquals('P', request[0]);
        byte[] response = {7, 0, 0, 0, 0, 0, 0, 0, 0, 'G', 2, 0, 0, 0, 0, 0, 9, 8};
        KvProtocol.Response r = KvProtocol.Response.decode(response);
        assertEquals(7, r.id());
        assertTrue(r.ok());
        assertArrayEquals(new byte[] {9, 8}, r.value());
        assertThrows(IllegalArgumentException.class, () -> KvProtocol.get(1, new byte[0]));
    }

    @Test
    void memorySourcesOpensKvm() {
        KvmTestSupport.assumeKvm();
        try (MemorySource source = MemorySources.open("kvm:guest=counter,mem=4m")) {
            KvmSource kvm = assertInstanceOf(KvmSource.class, source);
            assertEquals("kvm", kvm.kind());
            assertEquals("counter", kvm.guest());
            assertEquals(1024, kvm.pageCount());
        }
    }
}
