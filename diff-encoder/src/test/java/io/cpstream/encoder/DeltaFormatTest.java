package io.cpstream.encoder;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The run header of protocol 5: its sizes, and every boundary of its skip and length codes, on small and big pages. */
class DeltaFormatTest {

    private final Arena arena = Arena.ofAuto();
    private final SplittableRandom random = new SplittableRandom(11);

    @Test
    void aChangedWordCostsTwoBytesOfHeaderWhereverItIs() {
        PageEncoder encoder = new PageEncoder(4096);
        MemorySegment base = randomPage(4096);
        for (int at : new int[] {0, 8, 2040, 4088}) {
            MemorySegment page = copy(base);
            page.set(ValueLayout.JAVA_LONG_UNALIGNED, at, ~base.get(ValueLayout.JAVA_LONG_UNALIGNED, at));
            EncodedPage record = encoder.encode(page, base, 1);
            assertEquals(PageEncoding.DELTA, record.encoding());
            assertEquals(10, record.payloadBytes(), "a word at " + at);
        }
        MemorySegment page = copy(base);
        for (int at : new int[] {100, 1900, 4000}) {
            page.set(ValueLayout.JAVA_LONG_UNALIGNED, at, ~base.get(ValueLayout.JAVA_LONG_UNALIGNED, at));
        }
        assertEquals(30, encoder.encode(page, base, 1).payloadBytes(), "three words");
    }

    @Test
    void headerSizesFollowTheFormat() {
        assertEquals(2, DeltaFormat.headerSize(0, 1));
        assertEquals(2, DeltaFormat.headerSize(4094, 15));
        assertEquals(3, DeltaFormat.headerSize(4095, 1));
        assertEquals(3, DeltaFormat.headerSize(0, 16));
        assertEquals(4, DeltaFormat.headerSize(0, 16 + 128));
        assertEquals(2 + 3 + 2, DeltaFormat.headerSize(60000, 200));
    }

    @Test
    void everySkipAndLengthBoundaryRoundTrips() throws CorruptPageException {
        for (int pageSize : new int[] {16, 4096, 65536}) {
            PageEncoder encoder = new PageEncoder(pageSize);
            PageDecoder decoder = new PageDecoder(pageSize);
            MemorySegment base = randomPage(pageSize);
            MemorySegment dst = arena.allocate(pageSize);
            for (int skip : new int[] {0, 1, 15, 16, 4094, 4095, 4096, 4097, 4095 + 127, 4095 + 128, 40000, 65535}) {
                for (int length : new int[] {1, 2, 7, 8, 15, 16, 17, 143, 144, 1000}) {
                    if (skip + length > pageSize) {
                        continue;
                    }
                    MemorySegment page = copy(base);
                    for (int i = skip; i < skip + length; i++) {
                        page.set(ValueLayout.JAVA_BYTE, i, (byte) ~base.get(ValueLayout.JAVA_BYTE, i));
                    }
                    EncodedPage record = encoder.encode(page, base, 4);
                    decoder.decode(3, record, RoundTripTest.receiverHolding(base, 4), dst);
                    assertEquals(-1, dst.mismatch(page), pageSize + "-byte page, run of " + length + " at " + skip);
                    if (record.encoding() == PageEncoding.DELTA) {
                        assertEquals(DeltaFormat.headerSize(skip, length) + length, record.payloadBytes(),
                                pageSize + "-byte page, run of " + length + " at " + skip);
                    }
                }
            }
        }
    }

    private MemorySegment randomPage(int size) {
        MemorySegment page = arena.allocate(size);
        for (int i = 0; i < size; i++) {
            page.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
        }
        return page;
    }

    private MemorySegment copy(MemorySegment page) {
        MemorySegment out = arena.allocate(page.byteSize());
        out.copyFrom(page);
        return out;
    }
}
