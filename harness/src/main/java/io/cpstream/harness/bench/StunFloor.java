package io.cpstream.harness.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The floor no stun can go below: copying its pages, one 4 KiB page at a time from scattered places in a guest-sized
 * buffer (out of cache, as dirty pages are) into a staging buffer, with nothing else around the copy. Measured in the
 * same run as the pipeline, after it stopped, so that {@code pause_p99_over_floor} compares the stun's tail with
 * what this machine's memory allows that hour.
 */
final class StunFloor {

    private static final int PAGE = 4096;
    private static final long SOURCE_BYTES = 64L << 20; // well beyond the caches
    private static final int PAGES_PER_ROUND = 1024;
    private static final int ROUNDS = 21;

    private StunFloor() {
    }

    /** Nanoseconds per page copied: the median of {@value #ROUNDS} rounds of {@value #PAGES_PER_ROUND} pages. */
    static double nanosPerPage() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment source = arena.allocate(SOURCE_BYTES, PAGE);
            MemorySegment staging = arena.allocate((long) PAGES_PER_ROUND * PAGE, PAGE);
            for (long offset = 0; offset < SOURCE_BYTES; offset += Long.BYTES) {
                source.set(ValueLayout.JAVA_LONG, offset, offset * 0x9E3779B97F4A7C15L);
            }
            SplittableRandom random = new SplittableRandom(1);
            int sourcePages = (int) (SOURCE_BYTES / PAGE);
            double[] rounds = new double[ROUNDS];
            for (int round = 0; round < ROUNDS; round++) {
                int[] pages = random.ints(PAGES_PER_ROUND, 0, sourcePages).sorted().toArray();
                long started = System.nanoTime();
                for (int slot = 0; slot < pages.length; slot++) {
                    MemorySegment.copy(source, (long) pages[slot] * PAGE, staging, (long) slot * PAGE, PAGE);
                }
                rounds[round] = (System.nanoTime() - started) / (double) PAGES_PER_ROUND;
            }
            Arrays.sort(rounds);
            return rounds[ROUNDS / 2];
        }
    }

    /**
     * Adds {@code copy_us_per_page}, {@code stun_floor_us_p99} (the copy of the 99th-percentile stun's page count)
     * and {@code pause_p99_over_floor} beside the pipeline's {@code stun_pages_p99} and {@code pause_us_p99}.
     */
    static void addFigures(Map<String, Object> result, long stunPagesP99, double pauseMsP99) {
        double nanosPerPage = nanosPerPage();
        double floorMicros = stunPagesP99 * nanosPerPage / 1000;
        result.put("copy_us_per_page", Figures.round(nanosPerPage / 1000));
        result.put("stun_floor_us_p99", Figures.round(floorMicros));
        result.put("pause_p99_over_floor", floorMicros == 0 ? null : Figures.round(pauseMsP99 * 1000 / floorMicros));
    }
}
