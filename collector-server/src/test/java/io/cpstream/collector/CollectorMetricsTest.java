package io.cpstream.collector;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The per-VM histograms stay small: a collector serves one set of them for every VM it carries. */
class CollectorMetricsTest {

    @Test
    void bucketsGoOneTwoAndAHalfFivePerDecade() {
        assertArrayEquals(new long[] {1_000, 2_500, 5_000, 10_000, 25_000, 50_000},
                Arrays.stream(CollectorMetrics.decades(Duration.ofMillis(1), 6)).mapToLong(d -> d.toNanos() / 1_000)
                        .toArray(), "microseconds");
        assertEquals(Duration.ofNanos(250_000), CollectorMetrics.APPLY_BUCKETS[1]);
        assertEquals(Duration.ofSeconds(5), CollectorMetrics.APPLY_BUCKETS[14]);
        assertEquals(Duration.ofSeconds(50), CollectorMetrics.COMMIT_LAG_BUCKETS[14]);
    }

    @Test
    void eachHistogramHasFifteenBucketsPerVm() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        CollectorMetrics metrics = new CollectorMetrics(registry, "vm-a");
        metrics.apply.record(Duration.ofMillis(3));
        metrics.commitLag.record(Duration.ofMillis(30));
        assertEquals(15, metrics.apply.takeSnapshot().histogramCounts().length);
        assertEquals(15, metrics.commitLag.takeSnapshot().histogramCounts().length);
        // 3 ms falls in the 5 ms bucket and above (cumulative), not in 2.5 ms.
        assertEquals(0, metrics.apply.takeSnapshot().histogramCounts()[4].count());
        assertEquals(1, metrics.apply.takeSnapshot().histogramCounts()[5].count());
    }
}
