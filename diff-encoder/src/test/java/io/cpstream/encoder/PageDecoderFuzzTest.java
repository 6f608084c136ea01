package io.cpstream.encoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.CRC32C;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The page decoder under hostile records (issue 15's campaign), through {@link StreamDecoder}, exactly as the
 * collector calls it: arbitrary records, and valid encodings (ZERO, FULL, LZ4, DELTA, DUPLICATE) mutated anywhere
 * (payload bits, length, encoding, checksum, base version, source page). Each either throws
 * {@link CorruptPageException} or yields a page whose CRC-32C is the record's (a mutation that left the record
 * intact: exactly the original page); never another exception, never a byte written outside the destination page,
 * never a change to the receiver's pages. 10,000 tries per property in CI ({@code -Djqwik.tries.default=N} for
 * more, or {@code ./cpstream fuzz}).
 */
class PageDecoderFuzzTest {

    static final int PAGE = 4096;
    static final int HELD = 4;
    /** Guard bytes around the destination page: any write outside it shows there. */
    static final int GUARD = 64;
    static final byte CANARY = (byte) 0xA5;

    /** A receiver holding {@value #HELD} pages, page i at version i + 1. */
    static final class Held implements ReceiverPages {
        final byte[][] pages = new byte[HELD][];

        Held(Random random) {
            for (int i = 0; i < HELD; i++) {
                pages[i] = new byte[PAGE];
                random.nextBytes(pages[i]);
                // Keep some structure so that deltas against them are small and LZ4 pays on some pages.
                Arrays.fill(pages[i], 0, PAGE / 2, (byte) i);
            }
        }

        @Override
        public MemorySegment page(long index) {
            return index >= 0 && index < HELD ? MemorySegment.ofArray(pages[(int) index]) : null;
        }

        @Override
        public long version(long index) {
            return index >= 0 && index < HELD ? index + 1 : 0;
        }

        byte[][] copy() {
            byte[][] copy = new byte[HELD][];
            for (int i = 0; i < HELD; i++) {
                copy[i] = pages[i].clone();
            }
            return copy;
        }
    }

    /** One record as the wire gives it; {@code crc} is the CRC-32C the sender folded into its batch's check. */
    record Record(long index, PageEncoding encoding, byte[] payload, int crc, long baseVersion, long sourceIndex) {
        @Override
        public String toString() {
            return encoding + " page " + index + " base " + baseVersion + " source " + sourceIndex + " crc "
                    + Integer.toHexString(crc) + " payload " + payload.length + " bytes";
        }
    }

    /** What decoding {@code record} did; fails the property on anything but a refusal or a verified page. */
    static byte[] decodeChecked(Record record, Held held) {
        StreamDecoder decoder = new StreamDecoder(PAGE, HELD + 4);
        byte[][] before = held.copy();
        MemorySegment arena = MemorySegment.ofArray(new byte[GUARD + PAGE + GUARD]);
        arena.fill(CANARY);
        MemorySegment dst = arena.asSlice(GUARD, PAGE);
        byte[] result;
        try {
            // A batch of this one record, checked as the collector checks a PageBatch (protocol 5): the sender's
            // fold of the record's CRC-32C.
            PageBatchCheck sent = new PageBatchCheck();
            sent.add(record.crc());
            decoder.beginBatch();
            decoder.decode(record.index(), record.encoding(), ByteBuffer.wrap(record.payload()),
                    record.baseVersion(), record.sourceIndex(), held, dst);
            decoder.endBatch(sent.value());
            result = dst.toArray(ValueLayout.JAVA_BYTE);
            CRC32C crc = new CRC32C();
            crc.update(result);
            assertEquals(record.crc(), (int) crc.getValue(), "a page accepted without its checksum: " + record);
        } catch (CorruptPageException refused) {
            result = null;
        }
        for (int i = 0; i < GUARD; i++) {
            assertEquals(CANARY, arena.get(ValueLayout.JAVA_BYTE, i), "written before the page: " + record);
            assertEquals(CANARY, arena.get(ValueLayout.JAVA_BYTE, GUARD + PAGE + i), "written after the page: " + record);
        }
        for (int i = 0; i < HELD; i++) {
            assertArrayEquals(before[i], held.pages[i], "the receiver's page " + i + " changed: " + record);
        }
        return result;
    }

    @Property
    void arbitraryRecordsAreRefusedOrVerified(@ForAll("arbitraryRecords") Record record, @ForAll long seed) {
        decodeChecked(record, new Held(new Random(seed)));
    }

    @Property
    void mutatedValidRecordsAreRefusedOrTheOriginalPage(@ForAll("pageSeeds") long seed,
                                                        @ForAll("mutations") int mutation,
                                                        @ForAll("positions") int position) {
        Random random = new Random(seed);
        Held held = new Held(random);
        int index = random.nextInt(HELD);
        byte[] page = page(random, held, index);
        Record valid = encode(random, held, index, page);
        assertArrayEquals(page, decodeChecked(valid, held), "the valid record decodes to its page: " + valid);
        Record mutated = mutate(valid, mutation, position, random);
        byte[] decoded = decodeChecked(mutated, held);
        if (decoded != null && mutated.crc() == valid.crc()) {
            assertArrayEquals(page, decoded, "a mutated record decoded to another page with the same checksum: "
                    + mutated);
        }
    }

    /** A page to send: zero, a small change of the held page, a copy of another held page, or random. */
    private static byte[] page(Random random, Held held, int index) {
        return switch (random.nextInt(5)) {
            case 0 -> new byte[PAGE];
            case 1 -> held.pages[(index + 1) % HELD].clone();
            case 2 -> {
                byte[] random1 = new byte[PAGE];
                random.nextBytes(random1);
                yield random1;
            }
            default -> {
                byte[] changed = held.pages[index].clone();
                for (int i = 0, n = 1 + random.nextInt(40); i < n; i++) {
                    changed[random.nextInt(PAGE)] ^= (byte) (1 + random.nextInt(255));
                }
                yield changed;
            }
        };
    }

    /** A valid record of {@code page}: the encoder's own choice, or a DUPLICATE of the held page it equals. */
    private static Record encode(Random random, Held held, int index, byte[] page) {
        MemorySegment segment = MemorySegment.ofArray(page);
        int next = (index + 1) % HELD;
        if (Arrays.equals(page, held.pages[next]) && random.nextBoolean()) {
            CRC32C crc = new CRC32C();
            crc.update(page);
            return new Record(index, PageEncoding.DUPLICATE, new byte[0], (int) crc.getValue(), 0, next);
        }
        EncodedPage encoded = new PageEncoder(PAGE).encode(segment, MemorySegment.ofArray(held.pages[index]),
                held.version(index));
        ByteBuffer payload = encoded.payload().duplicate();
        byte[] bytes = new byte[payload.remaining()];
        payload.get(bytes);
        return new Record(index, encoded.encoding(), bytes, encoded.crc32c(), encoded.baseVersion(),
                encoded.sourceIndex());
    }

    private static Record mutate(Record r, int mutation, int position, Random random) {
        byte[] payload = r.payload();
        int at = payload.length == 0 ? 0 : Math.floorMod(position, payload.length);
        return switch (mutation) {
            case 0 -> { // flip one bit
                byte[] flipped = payload.clone();
                if (flipped.length > 0) {
                    flipped[at] ^= (byte) (1 << random.nextInt(8));
                }
                yield new Record(r.index(), r.encoding(), flipped, r.crc(), r.baseVersion(), r.sourceIndex());
            }
            case 1 -> new Record(r.index(), r.encoding(), Arrays.copyOf(payload, at), r.crc(), r.baseVersion(),
                    r.sourceIndex()); // cut
            case 2 -> { // extended by garbage
                byte[] longer = Arrays.copyOf(payload, payload.length + 1 + Math.floorMod(position, 2 * PAGE));
                for (int i = payload.length; i < longer.length; i++) {
                    longer[i] = (byte) random.nextInt();
                }
                yield new Record(r.index(), r.encoding(), longer, r.crc(), r.baseVersion(), r.sourceIndex());
            }
            case 3 -> new Record(r.index(), PageEncoding.values()[Math.floorMod(position, PageEncoding.values().length)],
                    payload, r.crc(), r.baseVersion(), r.sourceIndex()); // another encoding
            case 4 -> new Record(r.index(), r.encoding(), payload, r.crc() ^ (1 << Math.floorMod(position, 32)),
                    r.baseVersion(), r.sourceIndex()); // checksum
            case 5 -> new Record(r.index(), r.encoding(), payload, r.crc(), r.baseVersion() + position,
                    r.sourceIndex()); // base version
            case 6 -> new Record(r.index(), r.encoding(), payload, r.crc(), r.baseVersion(),
                    r.sourceIndex() + position); // source page
            case 7 -> new Record(r.index() + position, r.encoding(), payload, r.crc(), r.baseVersion(),
                    r.sourceIndex()); // page index
            default -> { // a run of bytes overwritten
                byte[] overwritten = payload.clone();
                for (int i = at; i < Math.min(overwritten.length, at + 1 + random.nextInt(16)); i++) {
                    overwritten[i] = (byte) random.nextInt();
                }
                yield new Record(r.index(), r.encoding(), overwritten, r.crc(), r.baseVersion(), r.sourceIndex());
            }
        };
    }

    @Provide
    Arbitrary<Long> pageSeeds() {
        return Arbitraries.longs();
    }

    @Provide
    Arbitrary<Integer> mutations() {
        return Arbitraries.integers().between(0, 8);
    }

    @Provide
    Arbitrary<Integer> positions() {
        return Arbitraries.oneOf(Arbitraries.integers().between(-2, 64), Arbitraries.integers());
    }

    @Provide
    Arbitrary<Record> arbitraryRecords() {
        Arbitrary<Long> indexes = Arbitraries.oneOf(Arbitraries.longs().between(-1, HELD + 1), Arbitraries.longs());
        Arbitrary<byte[]> payloads = Arbitraries.oneOf(
                Arbitraries.bytes().array(byte[].class).ofMaxSize(64),
                Arbitraries.bytes().array(byte[].class).ofMinSize(PAGE - 8).ofMaxSize(PAGE + 8),
                Arbitraries.bytes().array(byte[].class).ofMaxSize(2 * PAGE));
        Arbitrary<Integer> crcs = Arbitraries.oneOf(Arbitraries.integers(), Arbitraries.of(0, -1,
                0x8a9136aa /* CRC-32C of a zero page */));
        Arbitrary<Long> versions = Arbitraries.oneOf(Arbitraries.longs().between(-1, HELD + 1), Arbitraries.longs());
        return Combinators.combine(indexes, Arbitraries.of(PageEncoding.class), payloads, crcs, versions, indexes)
                .as(Record::new);
    }
}
