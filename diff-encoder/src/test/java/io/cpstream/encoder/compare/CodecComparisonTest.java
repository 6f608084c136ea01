package io.cpstream.encoder.compare;

import io.cpstream.encoder.CorruptPageException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * cpstream against the baselines on generated checkpoint sequences. Byte counts are deterministic (fixed
 * seeds), so the ratios are pass/fail; times are printed, never asserted.
 */
class CodecComparisonTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 8192;          // a 32 MiB guest
    /** Both delta caches get the same budget, an eighth of guest memory, as 64 MiB is of a 512 MiB guest. */
    private static final long CACHE_BYTES = PAGES * (long) PAGE / 8;

    static List<CodecReport> compare(SyntheticCheckpoints.Writes writes, long cacheBytes) throws CorruptPageException {
        try (SyntheticCheckpoints workload = new SyntheticCheckpoints(PAGE, PAGES, 150, 300, 0.9, writes, 42);
             CodecComparison comparison = new CodecComparison(PAGE, workload.image(), List.of(
                     new RawCodec(PAGE), new Lz4Codec(PAGE), new XbzrleCodec(PAGE, cacheBytes),
                     new CpstreamCodec(PAGE, PAGES, cacheBytes)))) {
            comparison.run(workload);
            List<CodecReport> reports = comparison.reports();
            System.out.println(writes + " cache=" + (cacheBytes >> 20) + "MiB");
            reports.forEach(System.out::println);
            return reports;
        }
    }

    static CodecReport named(List<CodecReport> reports, String name) {
        return reports.stream().filter(r -> r.name().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void sparseWordWritesCostAtMostHalfOfXbzrle() throws CorruptPageException {
        List<CodecReport> reports = compare(SyntheticCheckpoints.Writes.SPARSE_WORDS, CACHE_BYTES);
        double ratio = (double) named(reports, "cpstream").payloadBytes() / named(reports, "xbzrle").payloadBytes();
        System.out.printf("sparse words: cpstream/xbzrle = %.3f%n", ratio);
        assertTrue(ratio <= 0.5, "cpstream/xbzrle = " + ratio);
    }

    @Test
    void hotRunRewritesCostAtMostHalfOfXbzrle() throws CorruptPageException {
        List<CodecReport> reports = compare(SyntheticCheckpoints.Writes.HOT_RUNS, CACHE_BYTES);
        double ratio = (double) named(reports, "cpstream").payloadBytes() / named(reports, "xbzrle").payloadBytes();
        System.out.printf("hot runs: cpstream/xbzrle = %.3f%n", ratio);
        assertTrue(ratio <= 0.5, "cpstream/xbzrle = " + ratio);
    }

    @Test
    void incompressiblePagesCostAtMostTwoPercentMoreThanLz4() throws CorruptPageException {
        List<CodecReport> reports = compare(SyntheticCheckpoints.Writes.NOISE, CACHE_BYTES);
        double ratio = (double) named(reports, "cpstream").payloadBytes() / named(reports, "lz4").payloadBytes();
        System.out.printf("noise: cpstream/lz4 = %.4f%n", ratio);
        assertTrue(ratio <= 1.02, "cpstream/lz4 = " + ratio);
    }

    @Test
    void withACacheAsLargeAsTheGuestTheDeltaFormatStillBeatsXbzrle() throws CorruptPageException {
        for (SyntheticCheckpoints.Writes writes : List.of(SyntheticCheckpoints.Writes.SPARSE_WORDS,
                SyntheticCheckpoints.Writes.HOT_RUNS)) {
            List<CodecReport> reports = compare(writes, (long) PAGES * PAGE);
            double ratio = (double) named(reports, "cpstream").payloadBytes() / named(reports, "xbzrle").payloadBytes();
            System.out.printf("%s, unbounded cache: cpstream/xbzrle = %.3f%n", writes, ratio);
            assertTrue(ratio < 1, writes + ": cpstream/xbzrle = " + ratio);
        }
    }
}
