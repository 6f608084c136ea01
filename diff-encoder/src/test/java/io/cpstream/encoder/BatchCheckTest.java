package io.cpstream.encoder;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A batch verifies only when every page it rebuilt is the page the sender encoded, in the sender's order. */
class BatchCheckTest {

    private static final int PAGE = 4096;
    private final Arena arena = Arena.ofAuto();

    @Test
    void theFoldDependsOnEveryPageAndOnTheirOrder() {
        PageBatchCheck a = new PageBatchCheck();
        PageBatchCheck b = new PageBatchCheck();
        a.add(1);
        a.add(2);
        b.add(2);
        b.add(1);
        assertNotEquals(a.value(), b.value(), "order");
        b.reset();
        b.add(1);
        b.add(2);
        assertEquals(a.value(), b.value());
        assertEquals(2, b.pages());
        for (int bit = 0; bit < 32; bit++) {
            b.reset();
            b.add(1);
            b.add(2 ^ (1 << bit));
            assertNotEquals(a.value(), b.value(), "one bit of one page's CRC");
        }
        b.reset();
        b.add(1);
        assertNotEquals(a.value(), b.value(), "a page missing");
    }

    @Test
    void aWrongPageFailsItsBatchAndItsVerdictsDoNotCount() throws CorruptPageException {
        MemorySegment base = arena.allocate(PAGE);
        base.fill((byte) 3);
        MemorySegment page = arena.allocate(PAGE);
        page.copyFrom(base);
        page.set(ValueLayout.JAVA_LONG_UNALIGNED, 800, 42L);
        EncodedPage record = new PageEncoder(PAGE).encode(page, base, 5);
        assertEquals(PageEncoding.DELTA, record.encoding());
        ReceiverPages receiver = RoundTripTest.receiverHolding(base, 5);
        MemorySegment dst = arena.allocate(PAGE);
        StreamDecoder decoder = new StreamDecoder(PAGE, 16);

        PageBatchCheck sent = new PageBatchCheck();
        sent.add(record.crc32c() ^ 1); // the sender meant another page
        decoder.beginBatch();
        decoder.decode(3, record.encoding(), record.payload(), 5, 0, receiver, dst);
        decoder.observe(3, record.encoding(), decoder.lastDeltaRunBytes(), 5, base, dst);
        CorruptPageException e = assertThrows(CorruptPageException.class, () -> decoder.endBatch(sent.value()));
        assertEquals(CorruptPageException.Reason.CHECKSUM_MISMATCH, e.reason());
        assertFalse(decoder.hasNews(), "a batch that failed judges no page");

        sent.reset();
        sent.add(record.crc32c());
        decoder.beginBatch();
        decoder.decode(3, record.encoding(), record.payload(), 5, 0, receiver, dst);
        decoder.observe(3, record.encoding(), decoder.lastDeltaRunBytes(), 5, base, dst);
        decoder.endBatch(sent.value());
        assertEquals(-1, dst.mismatch(page));
        assertTrue(decoder.hasNews());
        assertArrayEquals(new long[] {3}, decoder.drainCandidates());
    }
}
