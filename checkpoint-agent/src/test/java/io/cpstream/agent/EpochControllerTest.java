package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The epoch controller against a model guest whose stun grows with the epoch (dirty pages accumulate at
 * a rate) and whose stream shrinks per second as the epoch grows (rewrites coalesce): deterministic
 * figures in, decisions out.
 */
class EpochControllerTest {

    /** Stun of a copy-all checkpoint: 50 µs fixed plus 1 µs per dirty page. */
    private static long stunNanos(long intervalNanos, double dirtyPagesPerSecond) {
        return 50_000 + (long) (dirtyPagesPerSecond * intervalNanos / 1e9) * 1_000;
    }

    @Test
    void aDoubledDirtyRateHalvesTheEpochToHoldTheStunTarget() {
        EpochController controller = new EpochController(Duration.ofMillis(100), Duration.ofMillis(2), 0);
        double rate = 40_000;
        for (int i = 0; i < 200; i++) {
            long interval = controller.intervalNanos();
            controller.observe(stunNanos(interval, rate), 0, interval);
        }
        long before = controller.intervalNanos();
        assertTrue(stunNanos(before, rate) <= 2_000_000, "holds the target: " + before);
        rate *= 2;
        for (int i = 0; i < 200; i++) {
            long interval = controller.intervalNanos();
            controller.observe(stunNanos(interval, rate), 0, interval);
        }
        long after = controller.intervalNanos();
        assertTrue(stunNanos(after, rate) <= 2_000_000, "holds the target at twice the rate: " + after);
        assertTrue(after < before * 0.7, "epoch shrank: " + before + " -> " + after);
        assertEquals(EpochController.Verdict.MET, controller.verdict());
    }

    @Test
    void aTargetBelowWhatTheShortestEpochAllowsIsReportedAsMissed() {
        EpochController controller = new EpochController(Duration.ofMillis(10), Duration.ofNanos(10_000), 0);
        for (int i = 0; i < 100; i++) {
            long interval = controller.intervalNanos();
            controller.observe(stunNanos(interval, 40_000), 0, interval);
        }
        assertEquals(EpochController.MIN_INTERVAL.toNanos(), controller.intervalNanos());
        assertEquals(EpochController.Verdict.STUN_TARGET_MISSED, controller.verdict());
    }

    @Test
    void aBandwidthBudgetLengthensEpochsAndWinsOverTheStunTarget() {
        // 4 MB/s of distinct pages plus a hot set rewritten every epoch: 2 MB each time, however short.
        EpochController controller = new EpochController(Duration.ofMillis(10), Duration.ofMillis(1), 200);
        for (int i = 0; i < 300; i++) {
            long interval = controller.intervalNanos();
            long bytes = (long) (4e6 * interval / 1e9) + 2_000_000;
            controller.observe(stunNanos(interval, 1000) + 2_000_000, bytes, interval);
        }
        assertTrue(controller.smoothedMbps() <= 200 * 1.05, "within budget: " + controller.smoothedMbps());
        assertTrue(controller.intervalNanos() > Duration.ofMillis(10).toNanos(), "lengthened");
        assertEquals(EpochController.Verdict.STUN_TARGET_MISSED, controller.verdict(), "the stun target yields");
    }

    @Test
    void withoutTargetsTheEpochIsWhatWasConfigured() {
        EpochController controller = new EpochController(Duration.ofMillis(10), null, 0);
        controller.observe(50_000_000, 1L << 30, 10_000_000);
        assertEquals(Duration.ofMillis(10).toNanos(), controller.intervalNanos());
    }

    @Test
    void inSteadyStateEpochsAreOneIntervalLongOnTheAgentsOwnGrid() {
        EpochController controller = new EpochController(Duration.ofMillis(50), null, 0);
        long interval = controller.intervalNanos();
        long boundary = controller.nextBoundaryNanos(1_000_000_000L);
        for (int epoch = 0; epoch < 100; epoch++) {
            long started = boundary + 200_000; // woken a little late, as a sleeping thread is
            long next = controller.nextBoundaryNanos(started);
            assertEquals(interval, next - boundary, "epoch " + epoch);
            boundary = next;
        }
    }

    @Test
    void aLateEpochFallsBackOntoTheGridWithinOneEpoch() {
        EpochController controller = new EpochController(Duration.ofMillis(50), null, 0);
        long interval = controller.intervalNanos();
        long grid = controller.nextBoundaryNanos(0);
        for (long late = 0; late < 3 * interval; late += interval / 7) {
            long started = grid + late;
            long next = controller.nextBoundaryNanos(started);
            assertEquals(0, Math.floorMod(next - grid, interval), "on the grid after starting " + late + " ns late");
            assertTrue(next - started >= interval / 2 && next - started <= interval * 3 / 2,
                    "an epoch of half to one and a half intervals: " + (next - started));
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {50, 10_000})
    void agentsReleasedTogetherDoNotStunTogether(long epochMillis) {
        // 64 agents on one collector, all let go at the same instant (started together, or woken by one burst of
        // acknowledgements after a stall): their next stuns spread over the interval instead of coinciding. No
        // tenth of it holds a third of them, with the default-sized epochs and with ones longer than the adaptive
        // controller's bound (--epoch-ms has none).
        int agents = 64;
        long interval = Duration.ofMillis(epochMillis).toNanos();
        long released = 5_000_000_000L;
        int[] perTenth = new int[10];
        for (int agent = 0; agent < agents; agent++) {
            EpochController controller = new EpochController(Duration.ofNanos(interval), null, 0);
            long next = controller.nextBoundaryNanos(released);
            perTenth[(int) ((next - released - interval / 2) * 10 / interval)]++;
        }
        for (int count : perTenth) {
            assertTrue(count < agents / 3, "stuns per tenth of the epoch: " + java.util.Arrays.toString(perTenth));
        }
    }
}
