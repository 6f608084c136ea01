package io.cpstream.encoder.compare;

import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.PageEncoding;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** XBZRLE's wire bytes as QEMU frames them, and the floor, on checkpoints whose every byte is known. */
class WireAccountingTest {

    private static final int PAGE = 4096;

    @Test
    void qemuFramingAndTheFloorCountWhatTheyClaim() throws CorruptPageException {
        try (Arena arena = Arena.ofConfined();
             CodecComparison comparison = new CodecComparison(PAGE, 8, List.of(new XbzrleCodec(PAGE, 8L * PAGE)))) {
            // Full sync: pages 0..7, page 0 zero, the others 0x11 everywhere.
            MemorySegment full = arena.allocate(8L * PAGE);
            full.asSlice(PAGE).fill((byte) 0x11);
            comparison.run(new Checkpoint(1, new long[] {0, 1, 2, 3, 4, 5, 6, 7}, full, PAGE, true));
            // Checkpoint 2 (XBZRLE's cache starts now): page 1 gets one changed byte (a miss: sent whole, then
            // cached), page 2 is cleared (a zero page).
            MemorySegment second = arena.allocate(2L * PAGE);
            second.asSlice(0, PAGE).fill((byte) 0x11);
            second.set(ValueLayout.JAVA_BYTE, 100, (byte) 0x22);
            comparison.run(new Checkpoint(2, new long[] {1, 2}, second, PAGE));
            // Checkpoint 3: page 1 changes one more byte: an XBZRLE hit.
            MemorySegment third = arena.allocate(PAGE);
            third.copyFrom(second.asSlice(0, PAGE));
            third.set(ValueLayout.JAVA_BYTE, 200, (byte) 0x33);
            comparison.run(new Checkpoint(3, new long[] {1}, third, PAGE));

            CodecReport xbzrle = comparison.reports().getFirst();
            assertEquals(1L, xbzrle.records().get(PageEncoding.DELTA));
            long delta = xbzrle.payloadBytes() - PAGE;
            // zrun 200 (2 bytes), nzrun 1 (1 byte), 1 new byte.
            assertEquals(4, delta);
            long expected = (8 + PAGE) + (8 + 1) + 8      // checkpoint 2: whole page, zero page, end of section
                    + (8 + 3 + delta) + 8;                // checkpoint 3: XBZRLE page, end of section
            assertEquals(expected, xbzrle.wireBytes());
            // Full sync: 7 whole pages and a zero page, and the end of section.
            assertEquals(7 * (8 + PAGE) + 9 + 8, xbzrle.fullSyncWireBytes());

            // Floor: page 1 changed 1 byte (gap 2 from -1, count 1), page 2 became zero (gap 1, count 0), then
            // page 1 changed 1 byte (gap 2, count 1).
            assertEquals((1 + 1 + 1) + (0 + 1 + 1) + (1 + 1 + 1), comparison.floorBytes());
            assertEquals(1 + (PAGE - 0) + 1, comparison.changedBytes());
        }
    }

    @Test
    void ulebLengths() {
        assertEquals(1, CodecComparison.ulebBytes(0));
        assertEquals(1, CodecComparison.ulebBytes(127));
        assertEquals(2, CodecComparison.ulebBytes(128));
        assertEquals(3, CodecComparison.ulebBytes(1 << 14));
    }
}
