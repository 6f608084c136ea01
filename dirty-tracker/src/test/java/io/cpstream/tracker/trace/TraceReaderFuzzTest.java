package io.cpstream.tracker.trace;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Map;
import java.util.Random;
import net.jpountz.lz4.LZ4FrameInputStream;
import net.jpountz.lz4.LZ4FrameOutputStream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * The trace reader under damaged files (issue 15's campaign): a valid recording whose header, compressed body or
 * decompressed records (recompressed, so the damage reaches the record parser past LZ4's checksums) were flipped, cut,
 * overwritten or extended, and arbitrary bytes behind a valid header or instead of the file. Reading every epoch either
 * succeeds or throws {@link TraceFormatException}: never another exception, never an out-of-memory from a length or
 * page count the file claims, never a hang. 10,000 tries per property in CI.
 */
class TraceReaderFuzzTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 64;
    /** More epochs than a damaged file of this size can hold: reading stops there or fails. */
    private static final int MAX_EPOCHS = 10_000;

    private static Path dir;
    private static byte[] valid;
    private static int headerBytes;
    private static byte[] body;
    private static int run;

    @BeforeContainer
    static void record() throws IOException {
        dir = Files.createTempDirectory("trace-fuzz-");
        Path file = dir.resolve("valid.cpt");
        Random random = new Random(15);
        byte[] image = new byte[PAGE * PAGES];
        try (TraceWriter writer = new TraceWriter(file, PAGE, PAGES, Map.of("source", "fuzz"))) {
            for (int epoch = 1; epoch <= 4; epoch++) {
                BitSet dirty = new BitSet(PAGES);
                for (int i = 0; i < 6; i++) {
                    int page = random.nextInt(PAGES);
                    dirty.set(page);
                    if (random.nextInt(3) > 0) {
                        for (int b = 0; b < PAGE; b += 64) {
                            image[page * PAGE + b] = (byte) random.nextInt();
                        }
                    } else {
                        Arrays.fill(image, page * PAGE, (page + 1) * PAGE, (byte) 0);
                    }
                }
                byte[] state = new byte[random.nextInt(32)];
                random.nextBytes(state);
                writer.writeEpoch(epoch * 1000L, epoch, epoch * 1000L + 10, 10, state, dirty,
                        MemorySegment.ofArray(image), new byte[TraceFormat.DIGEST_BYTES]);
            }
        }
        valid = Files.readAllBytes(file);
        // The header: magic, version, geometry, one metadata entry; then the LZ4 frame.
        headerBytes = TraceFormat.MAGIC.length + 4 * 4 + 2 + "source".length() + 2 + "fuzz".length();
        try (LZ4FrameInputStream in = new LZ4FrameInputStream(new ByteArrayInputStream(valid, headerBytes,
                valid.length - headerBytes))) {
            body = in.readAllBytes();
        }
        assertTrue(readAll(valid), "the valid recording reads");
    }

    @AfterContainer
    static void cleanUp() throws IOException {
        try (var files = Files.list(dir)) {
            for (Path file : files.toList()) {
                Files.delete(file);
            }
        }
        Files.delete(dir);
    }

    /** Reads every epoch of {@code bytes}: true if it read to the end record, false on a TraceFormatException. */
    static boolean readAll(byte[] bytes) {
        Path file = dir.resolve("fuzz-" + run++ + ".cpt");
        try {
            Files.write(file, bytes);
            try (TraceReader reader = new TraceReader(file)) {
                for (int epochs = 0; epochs <= MAX_EPOCHS; epochs++) {
                    if (reader.next() == null) {
                        return true;
                    }
                }
                return fail("more epochs than the file can hold");
            }
        } catch (TraceFormatException refused) {
            return false;
        } catch (IOException | RuntimeException | OutOfMemoryError e) {
            throw new AssertionError("not a TraceFormatException: " + e, e);
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                // the temporary directory goes at the end
            }
        }
    }

    static byte[] compress(byte[] records) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (LZ4FrameOutputStream lz4 = new LZ4FrameOutputStream(out, LZ4FrameOutputStream.BLOCKSIZE.SIZE_64KB,
                LZ4FrameOutputStream.FLG.Bits.BLOCK_INDEPENDENCE)) {
            lz4.write(records);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return out.toByteArray();
    }

    static byte[] concat(byte[] a, int aLength, byte[] b) {
        byte[] all = Arrays.copyOf(a, aLength + b.length);
        System.arraycopy(b, 0, all, aLength, b.length);
        return all;
    }

    /** Flips, cuts, overwrites or extends {@code bytes}; {@code position} picks where. */
    static byte[] damage(byte[] bytes, int kind, int position, long seed) {
        Random random = new Random(seed);
        int at = Math.floorMod(position, Math.max(1, bytes.length));
        byte[] damaged = bytes.clone();
        switch (kind) {
            case 0 -> damaged[at] ^= (byte) (1 << random.nextInt(8));
            case 1 -> damaged = Arrays.copyOf(bytes, at);
            case 2 -> {
                for (int i = at; i < Math.min(damaged.length, at + 1 + random.nextInt(8)); i++) {
                    damaged[i] = (byte) random.nextInt();
                }
            }
            case 3 -> { // a big-endian int at the position set to an extreme
                int[] extremes = {-1, Integer.MAX_VALUE, Integer.MIN_VALUE, 0, 1 << 24, PAGES + 1};
                int value = extremes[random.nextInt(extremes.length)];
                for (int i = 0; i < 4 && at + i < damaged.length; i++) {
                    damaged[at + i] = (byte) (value >>> (24 - 8 * i));
                }
            }
            default -> {
                byte[] tail = new byte[1 + random.nextInt(64)];
                random.nextBytes(tail);
                damaged = concat(bytes, bytes.length, tail);
            }
        }
        return damaged;
    }

    @Property
    void aDamagedRecordingReadsOrIsRefused(@ForAll("where") int where, @ForAll("kinds") int kind,
                                           @ForAll int position, @ForAll long seed) {
        byte[] file = switch (where) {
            case 0 -> damage(valid, kind, Math.floorMod(position, headerBytes + 8), seed); // the header
            case 1 -> damage(valid, kind, position, seed); // anywhere in the file as stored
            default -> concat(valid, headerBytes, compress(damage(body, kind, position, seed))); // the records
        };
        readAll(file);
    }

    @Property
    void arbitraryBytesAreRefused(@ForAll("garbage") byte[] garbage, @ForAll boolean behindAValidHeader,
                                  @ForAll boolean compressed) {
        byte[] records = compressed ? compress(garbage) : garbage;
        readAll(behindAValidHeader ? concat(valid, headerBytes, records) : records);
    }

    @Provide
    Arbitrary<Integer> where() {
        return Arbitraries.integers().between(0, 2);
    }

    @Provide
    Arbitrary<Integer> kinds() {
        return Arbitraries.integers().between(0, 4);
    }

    @Provide
    Arbitrary<byte[]> garbage() {
        return Arbitraries.bytes().array(byte[].class).ofMaxSize(2048);
    }
}
