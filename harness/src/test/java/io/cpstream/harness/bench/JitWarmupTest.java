package io.cpstream.harness.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The warm-up that waits for the JIT, over clocks the test drives: steps of 50 ms stand for the bench's seconds, so
 * a clock advancing 20 ms a step compiles 400 ms a second (busy) and one advancing 1 ms a step 20 ms a second (settled).
 */
class JitWarmupTest {

    private static final JitWarmup.Step FIFTY_MS = length -> Thread.sleep(50);

    @Test
    void endsAtTheFirstStepInWhichEveryClockWasQuiet() throws Exception {
        AtomicInteger steps = new AtomicInteger();
        AtomicLong busyThenQuiet = new AtomicLong();
        AtomicLong quiet = new AtomicLong();
        JitWarmup.settle(Duration.ofSeconds(30), List.of(busyThenQuiet::get, quiet::get), length -> {
            FIFTY_MS.run(length);
            busyThenQuiet.addAndGet(steps.incrementAndGet() <= 3 ? 20 : 1);
            quiet.addAndGet(1);
        });
        assertEquals(4, steps.get(), "three busy steps, then the first quiet one ends it");
    }

    @Test
    void stopsAtItsLimitWhenTheJitNeverSettles() throws Exception {
        AtomicLong busy = new AtomicLong();
        double seconds = JitWarmup.settle(Duration.ofMillis(300), List.of(busy::get), length -> {
            FIFTY_MS.run(length);
            busy.addAndGet(20);
        });
        assertTrue(seconds >= 0.3 && seconds < 10, "ran to its limit: " + seconds);
    }

    @Test
    void aClockThatCannotTellDoesNotHoldItBack() throws Exception {
        AtomicInteger steps = new AtomicInteger();
        JitWarmup.settle(Duration.ofSeconds(30), List.of(() -> -1L), length -> {
            FIFTY_MS.run(length);
            steps.incrementAndGet();
        });
        assertEquals(1, steps.get());
    }

    @Test
    void thisJvmKeepsItsCompileTime() {
        assertTrue(JitWarmup.localCompileMillis() >= 0, "HotSpot keeps the total compile time");
    }
}
