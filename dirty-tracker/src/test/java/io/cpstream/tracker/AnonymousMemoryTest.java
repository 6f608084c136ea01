package io.cpstream.tracker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class AnonymousMemoryTest {

    @Test
    void largeBufferIsZeroedAlignedWritableAndGoneWithItsArena() {
        long bytes = (5L << 20) + 4096; // not a multiple of the huge page: the tail must be usable too
        MemorySegment buffer;
        try (Arena arena = Arena.ofShared()) {
            buffer = AnonymousMemory.allocate(bytes, 4096, arena);
            assertEquals(bytes, buffer.byteSize());
            assertEquals(0, buffer.address() % 4096);
            assertEquals(-1, buffer.mismatch(MemorySegment.ofArray(new byte[(int) bytes])), "fresh memory reads as zeros");
            buffer.set(ValueLayout.JAVA_LONG, bytes - 8, 0x1122334455667788L);
            buffer.set(ValueLayout.JAVA_LONG, 0, 42L);
            assertEquals(0x1122334455667788L, buffer.get(ValueLayout.JAVA_LONG, bytes - 8));
            assertEquals(42L, buffer.get(ValueLayout.JAVA_LONG, 0));
        }
        MemorySegment closed = buffer;
        assertThrows(IllegalStateException.class, () -> closed.get(ValueLayout.JAVA_LONG, 0), "unmapped with its arena");
    }

    @Test
    void smallBufferComesFromTheArena() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = AnonymousMemory.allocate(8192, 4096, arena);
            assertEquals(8192, buffer.byteSize());
            assertEquals(0, buffer.address() % 4096);
            assertEquals(0L, buffer.get(ValueLayout.JAVA_LONG, 8184));
        }
    }
}
