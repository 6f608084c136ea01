package io.cpstream.encoder;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile records fail with a clear error, never write outside the scratch page, and never touch the
 * receiver's copy they refer to (invariant I5).
 */
class MalformedInputTest {

    private static final int PAGE = 4096;
    private final Arena arena = Arena.ofAuto();
    private final PageDecoder decoder = new PageDecoder(PAGE);
    /** The scratch page sits between two guard zones that must stay untouched. */
    private final MemorySegment guarded = arena.allocate(3 * PAGE);
    private final MemorySegment dst = guarded.asSlice(PAGE, PAGE);
    private final MemorySegment held = arena.allocate(PAGE);

    MalformedInputTest() {
        guarded.fill((byte) 0xEE);
        for (int i = 0; i < PAGE; i++) {
            held.set(ValueLayout.JAVA_BYTE, i, (byte) i);
        }
    }

    private CorruptPageException rejectsDelta(byte[] payload, long baseVersion, long heldVersion) {
        MemorySegment heldBefore = arena.allocate(PAGE);
        heldBefore.copyFrom(held);
        CorruptPageException e = assertThrows(CorruptPageException.class,
                () -> decoder.decodeDelta(ByteBuffer.wrap(payload), 0, baseVersion, held, heldVersion, dst));
        assertGuardsIntact();
        assertEquals(-1, held.mismatch(heldBefore), "the held copy was modified");
        return e;
    }

    private void assertGuardsIntact() {
        for (int i = 0; i < PAGE; i++) {
            assertEquals((byte) 0xEE, guarded.get(ValueLayout.JAVA_BYTE, i), "wrote before the page");
            assertEquals((byte) 0xEE, guarded.get(ValueLayout.JAVA_BYTE, 2 * PAGE + i), "wrote after the page");
        }
    }

    private static byte[] bytes(int... values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (byte) values[i];
        }
        return out;
    }

    @Test
    void deltaAgainstAVersionTheReceiverDoesNotHoldIsRefused() {
        CorruptPageException e = rejectsDelta(bytes(DeltaFormat.PLAIN), 7, 8);
        assertTrue(e.getMessage().contains("version 7"), e.getMessage());
    }

    @Test
    void deltaAgainstACopyOfUnknownVersionIsRefused() {
        CorruptPageException e = rejectsDelta(bytes(DeltaFormat.PLAIN), 0, 0);
        assertTrue(e.getMessage().contains("does not know"), e.getMessage());
        rejectsDelta(bytes(DeltaFormat.PLAIN), -1, -1);      // base_version 2^64-1 off the wire
    }

    @Test
    void deltaFormatErrorsAreRefused() {
        rejectsDelta(new byte[0], 1, 1);                                        // no format byte
        rejectsDelta(bytes(9), 1, 1);                                           // unknown format
        rejectsDelta(bytes(DeltaFormat.PLAIN, 0x80), 1, 1);                     // truncated varint
        rejectsDelta(bytes(DeltaFormat.PLAIN, 0x81, 0x80, 0x80, 0x80, 0x80, 0x01), 1, 1); // overlong varint
        rejectsDelta(bytes(DeltaFormat.PLAIN, 0x80, 0x00), 1, 1);               // padded varint
        rejectsDelta(bytes(DeltaFormat.PLAIN, 0x03, 0x11), 1, 1);               // run of 3, 1 byte of data
        rejectsDelta(bytes(DeltaFormat.PLAIN, 0x00, 0x7F), 1, 1);               // long run, length missing data
    }

    @Test
    void runsPastThePageEndAreRefused() {
        byte[] skipPastEnd = new byte[8];
        skipPastEnd[0] = DeltaFormat.PLAIN;
        int end = Varints.write(skipPastEnd, 1, (PAGE << 3) | 1);               // skip a whole page, then 1 byte
        skipPastEnd[end] = 1;
        rejectsDelta(Arrays.copyOf(skipPastEnd, end + 1), 1, 1);

        byte[] longRun = new byte[PAGE];
        longRun[0] = DeltaFormat.PLAIN;
        int at = Varints.write(longRun, 1, ((PAGE - 8) << 3));                  // 8 bytes before the end ...
        at = Varints.write(longRun, at, 16 - DeltaFormat.LONG_RUN);             // ... a run of 16
        rejectsDelta(Arrays.copyOf(longRun, at + 16), 1, 1);

        byte[] hugeLength = new byte[16];
        hugeLength[0] = DeltaFormat.PLAIN;
        at = Varints.write(hugeLength, 1, 0);
        at = Varints.write(hugeLength, at, Integer.MAX_VALUE - 4);              // overlong run
        rejectsDelta(Arrays.copyOf(hugeLength, at), 1, 1);
    }

    @Test
    void compressedDeltaLyingAboutItsLengthIsRefused() {
        byte[] lz4 = new byte[16];
        lz4[0] = DeltaFormat.LZ4;
        int at = Varints.write(lz4, 1, PAGE + 1);                               // more runs than a page
        rejectsDelta(Arrays.copyOf(lz4, at + 4), 1, 1);
        lz4[0] = DeltaFormat.LZ4;
        at = Varints.write(lz4, 1, 100);                                        // garbage block
        rejectsDelta(Arrays.copyOf(lz4, at + 6), 1, 1);
    }

    @Test
    void randomGarbageNeverEscapesThePage() {
        SplittableRandom random = new SplittableRandom(3);
        for (int round = 0; round < 5000; round++) {
            byte[] payload = new byte[random.nextInt(1, 200)];
            random.nextBytes(payload);
            payload[0] = random.nextBoolean() ? DeltaFormat.PLAIN : DeltaFormat.LZ4;
            try {
                decoder.decodeDelta(ByteBuffer.wrap(payload), 0, 1, held, 1, dst);
            } catch (CorruptPageException expected) {
                // a random payload with a matching CRC is possible but not expected
            }
        }
        assertGuardsIntact();
    }

    @Test
    void deltaIntoTheHeldCopyItselfIsRefused() {
        assertThrows(IllegalArgumentException.class,
                () -> decoder.decodeDelta(ByteBuffer.wrap(bytes(DeltaFormat.PLAIN)), 0, 1, held, 1, held));
    }

    @Test
    void zeroFullAndLz4RecordsWithWrongSizesAreRefused() {
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(PageEncoding.ZERO, ByteBuffer.wrap(new byte[1]), 0, dst));
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(PageEncoding.FULL, ByteBuffer.wrap(new byte[PAGE - 1]), 0, dst));
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(PageEncoding.FULL, ByteBuffer.wrap(new byte[PAGE + 1]), 0, dst));
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(PageEncoding.LZ4, ByteBuffer.wrap(new byte[PAGE + 1]), 0, dst));
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(PageEncoding.LZ4, ByteBuffer.wrap(bytes(0xF0, 1, 2)), 0, dst));
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(PageEncoding.LZ4, ByteBuffer.wrap(new byte[0]), 0, dst));
        assertGuardsIntact();
    }

    @Test
    void lz4PageThatDecompressesShortIsRefused() {
        PageEncoder encoder = new PageEncoder(PAGE);
        MemorySegment page = arena.allocate(PAGE);
        page.fill((byte) 1);
        EncodedPage record = encoder.encode(page);
        assertEquals(PageEncoding.LZ4, record.encoding());
        ByteBuffer payload = record.payload();
        ByteBuffer truncated = payload.duplicate().limit(payload.limit() - 1);
        assertThrows(CorruptPageException.class, () -> decoder.decode(PageEncoding.LZ4, truncated, record.crc32c(), dst));
        assertGuardsIntact();
    }

    @Test
    void checksumMismatchIsRefusedForEveryEncoding() {
        PageEncoder encoder = new PageEncoder(PAGE);
        MemorySegment page = arena.allocate(PAGE);
        page.copyFrom(held);
        page.set(ValueLayout.JAVA_BYTE, 10, (byte) 99);
        EncodedPage delta = encoder.encode(page, held, 1);
        assertEquals(PageEncoding.DELTA, delta.encoding());
        assertThrows(CorruptPageException.class,
                () -> decoder.decodeDelta(delta.payload(), delta.crc32c() ^ 1, 1, held, 1, dst));
        assertThrows(CorruptPageException.class,
                () -> decoder.decodeDuplicate(ByteBuffer.allocate(0), PageChecksums.crc32c(page), held, dst));
        assertThrows(CorruptPageException.class,
                () -> decoder.decodeDuplicate(ByteBuffer.allocate(1), PageChecksums.crc32c(held), held, dst));
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(PageEncoding.ZERO, ByteBuffer.allocate(0), 1, dst));
    }

    @Test
    void deltaAndDuplicateNeedTheReceiversPages() {
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(PageEncoding.DELTA, ByteBuffer.wrap(bytes(DeltaFormat.PLAIN)), 0, dst));
        ReceiverPages nothing = new ReceiverPages() {
            @Override
            public MemorySegment page(long index) {
                return null;
            }

            @Override
            public long version(long index) {
                return 0;
            }
        };
        assertThrows(CorruptPageException.class, () -> decoder.decode(1, PageEncoding.DUPLICATE,
                ByteBuffer.allocate(0), 0, 0, 1 << 40, nothing, dst));
        assertThrows(CorruptPageException.class, () -> decoder.decode(1, PageEncoding.DELTA,
                ByteBuffer.wrap(bytes(DeltaFormat.PLAIN)), 0, 0, 0, nothing, dst));
    }

    @Test
    void xbzrleRunsPastThePageEndAreRefused() {
        byte[] in = new byte[8];
        int at = Varints.write(in, 0, PAGE - 1);
        at = Varints.write(in, at, 2);
        MemorySegment page = arena.allocate(PAGE);
        int length = at + 2;
        assertThrows(CorruptPageException.class, () -> XbzrleFormat.decode(in, length, page, PAGE));
        assertThrows(CorruptPageException.class, () -> XbzrleFormat.decode(bytes(0, 5, 1), 3, page, PAGE));
    }
}
