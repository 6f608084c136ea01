package io.cpstream.encoder;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every page the encoder produces decodes to exactly that page, over random and adversarial edits. */
class RoundTripTest {

    private static final int PAGE = 4096;
    private final Arena arena = Arena.ofAuto();
    private final PageEncoder encoder = new PageEncoder(PAGE);
    private final PageDecoder decoder = new PageDecoder(PAGE);
    private final SplittableRandom random = new SplittableRandom(7);

    /** Named edits turning a base page into a new page. */
    private List<Edit> edits() {
        List<Edit> edits = new ArrayList<>();
        edits.add(new Edit("unchanged", (base, page) -> { }));
        edits.add(new Edit("one byte changed", (base, page) -> flip(page, random.nextInt(PAGE))));
        edits.add(new Edit("first byte", (base, page) -> flip(page, 0)));
        edits.add(new Edit("last byte", (base, page) -> flip(page, PAGE - 1)));
        edits.add(new Edit("every byte changed", (base, page) -> {
            for (int i = 0; i < PAGE; i++) {
                flip(page, i);
            }
        }));
        edits.add(new Edit("every other byte changed", (base, page) -> {
            for (int i = 0; i < PAGE; i += 2) {
                flip(page, i);
            }
        }));
        edits.add(new Edit("every third byte changed", (base, page) -> {
            for (int i = 0; i < PAGE; i += 3) {
                flip(page, i);
            }
        }));
        edits.add(new Edit("shifted by one byte", (base, page) -> {
            MemorySegment.copy(base, 0, page, 1, PAGE - 1);
            page.set(ValueLayout.JAVA_BYTE, 0, (byte) 0x5A);
        }));
        edits.add(new Edit("all bytes equal", (base, page) -> page.fill((byte) 0x77)));
        edits.add(new Edit("all zero", (base, page) -> page.fill((byte) 0)));
        edits.add(new Edit("random noise", (base, page) -> {
            for (int i = 0; i < PAGE; i += 8) {
                page.set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextLong());
            }
        }));
        edits.add(new Edit("sparse words", (base, page) -> {
            for (int w = 0; w < 4; w++) {
                int at = random.nextInt(PAGE / 8) * 8;
                page.set(ValueLayout.JAVA_LONG_UNALIGNED, at, page.get(ValueLayout.JAVA_LONG_UNALIGNED, at) + 1);
            }
        }));
        edits.add(new Edit("256-byte run rewritten", (base, page) -> {
            int at = random.nextInt(PAGE / 256) * 256;
            for (int i = at; i < at + 256; i++) {
                page.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(4));
            }
        }));
        edits.add(new Edit("random scattered bytes", (base, page) -> {
            int n = random.nextInt(1, 600);
            for (int k = 0; k < n; k++) {
                flip(page, random.nextInt(PAGE));
            }
        }));
        return edits;
    }

    private record Edit(String name, BiConsumer<MemorySegment, MemorySegment> apply) {
    }

    private static void flip(MemorySegment page, int at) {
        page.set(ValueLayout.JAVA_BYTE, at, (byte) ~page.get(ValueLayout.JAVA_BYTE, at));
    }

    private MemorySegment basePage(int kind) {
        MemorySegment page = arena.allocate(PAGE);
        switch (kind) {
            case 0 -> { } // zero
            case 1 -> page.fill((byte) 0x77);
            case 2 -> {
                for (int i = 0; i < PAGE; i += 8) {
                    page.set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextInt(1000));
                }
            }
            default -> {
                for (int i = 0; i < PAGE; i += 8) {
                    page.set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextLong());
                }
            }
        }
        return page;
    }

    @Test
    void everyEditRoundTripsWithAndWithoutABase() throws CorruptPageException {
        MemorySegment dst = arena.allocate(PAGE);
        for (int round = 0; round < 30; round++) {
            for (int kind = 0; kind < 4; kind++) {
                for (Edit edit : edits()) {
                    MemorySegment base = basePage(kind);
                    MemorySegment page = arena.allocate(PAGE);
                    page.copyFrom(base);
                    edit.apply().accept(base, page);

                    EncodedPage withBase = encoder.encode(page, base, 41);
                    decoder.decode(3, withBase, receiverHolding(base, 41), dst);
                    assertEquals(-1, dst.mismatch(page), edit.name() + " with base");
                    assertTrue(withBase.payloadBytes() <= PAGE, edit.name() + " payload larger than a page");

                    EncodedPage alone = encoder.encode(page);
                    decoder.decode(alone.encoding(), alone.payload(), alone.crc32c(), dst);
                    assertEquals(-1, dst.mismatch(page), edit.name() + " without base");
                }
            }
        }
    }

    @Test
    void smallEditsTravelAsSmallDeltas() {
        MemorySegment base = basePage(3);
        MemorySegment page = arena.allocate(PAGE);
        page.copyFrom(base);
        flip(page, 1000);
        EncodedPage record = encoder.encode(page, base, 1);
        assertEquals(PageEncoding.DELTA, record.encoding());
        assertEquals(1, record.baseVersion());
        assertTrue(record.payloadBytes() <= 4, "one changed byte cost " + record.payloadBytes());
    }

    @Test
    void duplicatesReferToWhatTheReceiverHoldsAtTheBaseNotToThisCheckpoint() throws CorruptPageException {
        DuplicateIndex index = new DuplicateIndex(16, 64);
        MemorySegment content = basePage(3);
        MemorySegment zero = arena.allocate(PAGE);
        assertEquals(PageEncoding.FULL, encoder.encode(5, content, null, 0, index).encoding());
        assertEquals(PageEncoding.FULL, encoder.encode(9, content, null, 0, index).encoding(),
                "page 5 is only sent in this checkpoint: the receiver's base does not hold it yet");
        index.publish();

        EncodedPage repeat = encoder.encode(11, content, null, 0, index);
        assertEquals(PageEncoding.DUPLICATE, repeat.encoding());
        MemorySegment dst = arena.allocate(PAGE);
        decoder.decode(11, repeat, receiverHolding(content, 1), dst);
        assertEquals(-1, dst.mismatch(content));
        // Pages 5 and 9 are cleared in this same checkpoint: at its base they still hold the content.
        encoder.encode(5, zero, null, 0, index);
        encoder.encode(9, zero, null, 0, index);
        assertEquals(PageEncoding.DUPLICATE, encoder.encode(12, content, null, 0, index).encoding());
        index.publish();

        // Page 11 and 12 still hold it; once they too are cleared, nothing does.
        encoder.encode(11, zero, null, 0, index);
        encoder.encode(12, zero, null, 0, index);
        index.publish();
        assertEquals(PageEncoding.FULL, encoder.encode(13, content, null, 0, index).encoding(),
                "a page cleared since must not serve as a source");
        index.clear();
        index.publish();
        assertEquals(PageEncoding.FULL, encoder.encode(14, content, null, 0, index).encoding(),
                "clear drops what was pending too");
    }

    @Test
    void aPageRewrittenWithItsOwnContentIsADuplicateOfItself() throws CorruptPageException {
        DuplicateIndex index = new DuplicateIndex(16, 64);
        MemorySegment content = basePage(2);
        encoder.encode(4, content, null, 0, index);
        index.publish();
        EncodedPage same = encoder.encode(4, content, null, 0, index);
        assertEquals(PageEncoding.DUPLICATE, same.encoding());
        assertEquals(4, same.sourceIndex());
        MemorySegment dst = arena.allocate(PAGE);
        decoder.decode(4, same, receiverHolding(content, 1), dst);
        assertEquals(-1, dst.mismatch(content));
    }

    @Test
    void hashDistinguishesPagesThatDifferInOneBit() {
        PageHash128 hash = new PageHash128();
        MemorySegment a = basePage(2);
        MemorySegment b = arena.allocate(PAGE);
        for (int bit = 0; bit < PAGE * 8; bit += 97) {
            b.copyFrom(a);
            b.set(ValueLayout.JAVA_BYTE, bit / 8, (byte) (b.get(ValueLayout.JAVA_BYTE, bit / 8) ^ (1 << (bit % 8))));
            hash.hash(a);
            long high = hash.high();
            long low = hash.low();
            hash.hash(b);
            assertTrue(high != hash.high() && low != hash.low(), "bit " + bit);
        }
    }

    static ReceiverPages receiverHolding(MemorySegment page, long version) {
        return new ReceiverPages() {
            @Override
            public MemorySegment page(long index) {
                return page;
            }

            @Override
            public long version(long index) {
                return version;
            }
        };
    }
}
