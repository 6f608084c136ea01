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
        return rejectsDelta(PageEncoding.DELTA, payload, baseVersion, heldVersion);
    }

    private CorruptPageException rejectsDelta(PageEncoding encoding, byte[] payload, long baseVersion,
            long heldVersion) {
        MemorySegment heldBefore = arena.allocate(PAGE);
        heldBefore.copyFrom(held);
        CorruptPageException e = assertThrows(CorruptPageException.class,
                () -> decoder.rebuildDelta(encoding, ByteBuffer.wrap(payload), baseVersion, held, heldVersion, dst));
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

    /** One run: its two header bytes, {@code skip} and a length code of 1..15 or 0 (a longer run). */
    private static byte[] header(int skip, int lengthCode) {
        int h = skip << DeltaFormat.LENGTH_BITS | lengthCode;
        return bytes(h >>> 8, h & 0xFF);
    }

    private static byte[] concat(byte[]... parts) {
        byte[] out = new byte[Arrays.stream(parts).mapToInt(p -> p.length).sum()];
        int at = 0;
        for (byte[] part : parts) {
            System.arraycopy(part, 0, out, at, part.length);
            at += part.length;
        }
        return out;
    }

    @Test
    void deltaAgainstAVersionTheReceiverDoesNotHoldIsRefused() {
        CorruptPageException e = rejectsDelta(new byte[0], 7, 8);
        assertTrue(e.getMessage().contains("version 7"), e.getMessage());
    }

    @Test
    void deltaAgainstACopyOfUnknownVersionIsRefused() {
        CorruptPageException e = rejectsDelta(new byte[0], 0, 0);
        assertTrue(e.getMessage().contains("does not know"), e.getMessage());
        rejectsDelta(new byte[0], -1, -1);      // base_version 2^64-1 off the wire
    }

    @Test
    void deltaFormatErrorsAreRefused() {
        rejectsDelta(bytes(0x01), 1, 1);                                        // truncated header
        rejectsDelta(concat(header(3, 3), bytes(0x11)), 1, 1);                  // run of 3, 1 byte of data
        rejectsDelta(header(0, 0), 1, 1);                                       // long run, length missing
        rejectsDelta(concat(header(0, 0), bytes(0x80)), 1, 1);                  // truncated varint
        rejectsDelta(concat(header(0, 0), bytes(0x81, 0x80, 0x80, 0x80, 0x80, 0x01)), 1, 1); // overlong varint
        rejectsDelta(concat(header(0, 0), bytes(0x80, 0x00)), 1, 1);            // padded varint
        rejectsDelta(concat(header(0, 0), bytes(0x7F)), 1, 1);                  // long run, data missing
        rejectsDelta(header(DeltaFormat.SKIP_IN_HEADER, 1), 1, 1);              // long skip, rest missing
        // An empty plain delta is a page unchanged since its base: valid, and then its CRC decides.
    }

    @Test
    void runsPastThePageEndAreRefused() {
        byte[] skipPastEnd = new byte[8];
        byte[] h = header(DeltaFormat.SKIP_IN_HEADER, 1);                        // skip a whole page, then 1 byte
        System.arraycopy(h, 0, skipPastEnd, 0, 2);
        int end = Varints.write(skipPastEnd, 2, PAGE - DeltaFormat.SKIP_IN_HEADER);
        skipPastEnd[end] = 1;
        rejectsDelta(Arrays.copyOf(skipPastEnd, end + 1), 1, 1);

        byte[] longRun = concat(header(PAGE - 8, 0), bytes(16 - DeltaFormat.LONG_RUN), new byte[16]); // 16 at 8 before the end
        rejectsDelta(longRun, 1, 1);

        byte[] hugeLength = new byte[16];
        System.arraycopy(header(0, 0), 0, hugeLength, 0, 2);
        int at = Varints.write(hugeLength, 2, Integer.MAX_VALUE - 4);           // overlong run
        rejectsDelta(Arrays.copyOf(hugeLength, at), 1, 1);

        byte[] hugeSkip = new byte[16];
        System.arraycopy(header(DeltaFormat.SKIP_IN_HEADER, 1), 0, hugeSkip, 0, 2);
        at = Varints.write(hugeSkip, 2, Integer.MAX_VALUE - 4);                 // overlong skip
        rejectsDelta(Arrays.copyOf(hugeSkip, at + 1), 1, 1);
    }

    @Test
    void compressedDeltaLyingAboutItsLengthIsRefused() {
        byte[] lz4 = new byte[16];
        int at = Varints.write(lz4, 0, PAGE + 1);                               // more runs than a page
        rejectsDelta(PageEncoding.DELTA_LZ4, Arrays.copyOf(lz4, at + 4), 1, 1);
        at = Varints.write(lz4, 0, 100);                                        // garbage block
        rejectsDelta(PageEncoding.DELTA_LZ4, Arrays.copyOf(lz4, at + 6), 1, 1);
        rejectsDelta(PageEncoding.DELTA_LZ4, new byte[0], 1, 1);                 // no length
    }

    @Test
    void randomGarbageNeverEscapesThePage() {
        SplittableRandom random = new SplittableRandom(3);
        for (int round = 0; round < 5000; round++) {
            byte[] payload = new byte[random.nextInt(1, 200)];
            random.nextBytes(payload);
            PageEncoding encoding = random.nextBoolean() ? PageEncoding.DELTA : PageEncoding.DELTA_LZ4;
            try {
                decoder.rebuildDelta(encoding, ByteBuffer.wrap(payload), 1, held, 1, dst);
            } catch (CorruptPageException expected) {
                // malformed: the usual outcome; a well-formed one yields a page whose CRC the caller checks
            }
        }
        assertGuardsIntact();
    }

    @Test
    void deltaIntoTheHeldCopyItselfIsRefused() {
        assertThrows(IllegalArgumentException.class,
                () -> decoder.decodeDelta(ByteBuffer.wrap(new byte[0]), 0, 1, held, 1, held));
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
                () -> decoder.decode(PageEncoding.DELTA, ByteBuffer.wrap(new byte[0]), 0, dst));
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
                ByteBuffer.wrap(new byte[0]), 0, 0, 0, nothing, dst));
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
