package io.cpstream.encoder;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Per-page costs of the hot paths, in ns per 4 KiB page (GB/s of dirty-page input = 4.096 / ns).
 * {@code edit}: SPARSE = 4 changed 8-byte words, RUN = one 256-byte run rewritten, DENSE = every byte changed.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class EncoderBenchmarks {

    private static final int PAGE = 4096;
    private static final VectorSpecies<Byte> SPECIES = ByteVector.SPECIES_PREFERRED;

    @Param({"SPARSE", "RUN", "DENSE"})
    public String edit;

    private MemorySegment base;
    private MemorySegment page;
    private MemorySegment dst;
    private MemorySegment almostZero;
    private final byte[] out = new byte[PAGE + DeltaFormat.MAX_RUN_HEADER];
    private final PageEncoder encoder = new PageEncoder(PAGE);
    private final PageDecoder decoder = new PageDecoder(PAGE);
    private final PageHash128 hash = new PageHash128();
    private final Murmur3PageHash murmur = new Murmur3PageHash();
    private final DuplicateIndex duplicates = new DuplicateIndex(1024, 2048);
    private final DuplicateIndex alwaysHashing = new DuplicateIndex(1024, 2048).lookingUpEveryPage();
    private final Lz4Backoff lz4Backoff = new Lz4Backoff(1024);
    private final MemorySegment baseCopy = Arena.ofAuto().allocate(PAGE, PAGE);
    private ByteBuffer deltaPayload;
    private int deltaCrc;
    private PageEncoding deltaEncoding;

    @Setup
    public void setUp() {
        Arena arena = Arena.ofShared();
        SplittableRandom random = new SplittableRandom(1);
        base = arena.allocate(PAGE, PAGE);
        page = arena.allocate(PAGE, PAGE);
        dst = arena.allocate(PAGE, PAGE);
        almostZero = arena.allocate(PAGE, PAGE);
        // Worst case: the ends are zero (no shortcut), the compare runs to the one non-zero byte near the end.
        almostZero.set(ValueLayout.JAVA_BYTE, PAGE - 9, (byte) 1);
        for (int i = 0; i < PAGE; i += 8) {
            base.set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextInt(1 << 20));
        }
        page.copyFrom(base);
        switch (edit) {
            case "SPARSE" -> {
                for (int w = 0; w < 4; w++) {
                    int at = random.nextInt(PAGE / 8) * 8;
                    page.set(ValueLayout.JAVA_LONG_UNALIGNED, at, page.get(ValueLayout.JAVA_LONG_UNALIGNED, at) + 77);
                }
            }
            case "RUN" -> {
                for (int i = 1024; i < 1024 + 256; i++) {
                    page.set(ValueLayout.JAVA_BYTE, i, (byte) (page.get(ValueLayout.JAVA_BYTE, i) ^ (1 + random.nextInt(255))));
                }
            }
            default -> {
                for (int i = 0; i < PAGE; i++) {
                    page.set(ValueLayout.JAVA_BYTE, i, (byte) ~page.get(ValueLayout.JAVA_BYTE, i));
                }
            }
        }
        EncodedPage record = encoder.encode(page, base, 1);
        byte[] copy = new byte[record.payloadBytes()];
        record.payload().get(record.payload().position(), copy, 0, copy.length);
        deltaPayload = ByteBuffer.wrap(copy);
        deltaCrc = record.crc32c();
        deltaEncoding = record.encoding().isDelta() ? record.encoding() : PageEncoding.DELTA;
    }

    /** The delta pass alone: XOR and run scan with the JDK's mismatch intrinsic and SWAR words. */
    @Benchmark
    public int deltaRuns() {
        return DeltaRunWriter.writeRuns(page, base, PAGE, out, 1, PAGE - 1);
    }

    /** The same scan (first differing byte of each run) with the Vector API instead of mismatch. */
    @Benchmark
    public int deltaRunsVectorScan() {
        int runs = 0;
        int i = 0;
        while (i < PAGE) {
            int first = firstDifference(i);
            if (first < 0) {
                break;
            }
            int end = first + 1;
            while (end < PAGE && page.get(ValueLayout.JAVA_BYTE, end) != base.get(ValueLayout.JAVA_BYTE, end)) {
                end++;
            }
            runs++;
            i = end;
        }
        return runs;
    }

    private int firstDifference(int from) {
        int i = from;
        for (; i + SPECIES.length() <= PAGE; i += SPECIES.length()) {
            ByteVector a = ByteVector.fromMemorySegment(SPECIES, page, i, ByteOrder.LITTLE_ENDIAN);
            ByteVector b = ByteVector.fromMemorySegment(SPECIES, base, i, ByteOrder.LITTLE_ENDIAN);
            VectorMask<Byte> differs = a.compare(jdk.incubator.vector.VectorOperators.NE, b);
            if (differs.anyTrue()) {
                return i + differs.firstTrue();
            }
        }
        for (; i < PAGE; i++) {
            if (page.get(ValueLayout.JAVA_BYTE, i) != base.get(ValueLayout.JAVA_BYTE, i)) {
                return i;
            }
        }
        return -1;
    }

    /** What the agent pays per page with a base: CRC-32C, zero check, delta, LZ4 when the delta is large. */
    @Benchmark
    public EncodedPage encodeWithBase() {
        return encoder.encode(page, base, 1);
    }

    /**
     * The agent's whole per-page path for a delta candidate, hashing every page: CRC-32C, zero check, 128-bit hash
     * and duplicate lookup, delta (LZ4 over it when large, backed off on runs that do not compress, as the agent
     * does), and refreshing the base copy with the page.
     */
    @Benchmark
    public EncodedPage encodeAsAgent() {
        EncodedPage record = encoder.encode(7, page, base, 1, alwaysHashing, lz4Backoff);
        alwaysHashing.discardPending(); // a lookup miss every time, as for a page with new content
        MemorySegment.copy(page, 0, baseCopy, 0, PAGE);
        return record;
    }

    /**
     * The same path as the agent runs it on a guest whose pages never repeat: after a window of misses the duplicate
     * index looks up one page in 16, so the hash is mostly skipped.
     */
    @Benchmark
    public EncodedPage encodeAsAgentAdaptive() {
        EncodedPage record = encoder.encode(7, page, base, 1, duplicates, lz4Backoff);
        duplicates.discardPending();
        MemorySegment.copy(page, 0, baseCopy, 0, PAGE);
        return record;
    }

    /** What the collector pays per DELTA record: parse, copy the base, XOR the runs, verify the CRC. */
    @Benchmark
    public MemorySegment decodeDelta() throws CorruptPageException {
        if (decoder.rebuildDelta(deltaEncoding, deltaPayload, 1, base, 1, dst) != deltaCrc) {
            throw new CorruptPageException("the benchmark's delta does not rebuild its page");
        }
        return dst;
    }

    /** Worst case of zero detection: a page whose only non-zero byte is just before the last word. */
    @Benchmark
    public boolean zeroDetection() {
        return ZeroPages.isZero(almostZero);
    }

    @Benchmark
    public int crc32c() {
        return PageChecksums.crc32c(page);
    }

    @Benchmark
    public long hash128() {
        hash.hash(page);
        return hash.low();
    }

    /** The hash PageHash128 replaced, for comparison in the same run. */
    @Benchmark
    public long hashMurmur3() {
        murmur.hash(page);
        return murmur.low();
    }
}
