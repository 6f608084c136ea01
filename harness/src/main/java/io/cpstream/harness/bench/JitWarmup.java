package io.cpstream.harness.bench;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.List;

/**
 * The end of a warm-up that waits for the JIT. A daemon that has run for minutes has its hot code compiled; a bench
 * that opens its window a few seconds after start measures the compiler too. With the launchers' lower compile
 * thresholds ({@code deploy/bin/jdk.sh}), C2 took a quarter to a third of both cores for the first 15-25 s of a
 * capacity run, inside a window that began 2 s after the full sync. So the warm-up goes on, a second at a time,
 * until every JVM of the run compiled for less than {@link #SETTLED_MILLIS_PER_SECOND} in the last second, or until
 * its limit; the compile time that still falls in the window is reported beside the figures ({@code jit_ms_in_window}).
 */
final class JitWarmup {

    /** Compile time per second of wall time below which a JVM counts as warm: 5% of one core. */
    static final long SETTLED_MILLIS_PER_SECOND = 50;

    private JitWarmup() {
    }

    /** A JVM's total compile time so far, in ms (summed over its compiler threads); negative when unknown. */
    interface CompileClock {
        long millis() throws Exception;
    }

    /** Runs one step of the warm-up, about a second long. */
    interface Step {
        void run(Duration length) throws Exception;
    }

    /** This JVM's compile time, from its {@link CompilationMXBean}; -1 where the JVM does not keep it. */
    static long localCompileMillis() {
        CompilationMXBean compiler = ManagementFactory.getCompilationMXBean();
        return compiler != null && compiler.isCompilationTimeMonitoringSupported() ? compiler.getTotalCompilationTime()
                : -1;
    }

    /**
     * Runs {@code step} a second at a time until every clock in {@code clocks} advanced less than
     * {@link #SETTLED_MILLIS_PER_SECOND} per second over the last step, or {@code limit} has passed. A clock that
     * cannot tell (negative) does not hold the warm-up back.
     *
     * @return how long it ran, in seconds
     */
    static double settle(Duration limit, List<CompileClock> clocks, Step step) throws Exception {
        long start = System.nanoTime();
        long deadline = start + limit.toNanos();
        long[] before = read(clocks);
        while (System.nanoTime() < deadline) {
            long stepStart = System.nanoTime();
            step.run(Duration.ofNanos(Math.min(1_000_000_000L, deadline - stepStart)));
            long[] after = read(clocks);
            double seconds = Math.max(1e-3, (System.nanoTime() - stepStart) / 1e9);
            boolean settled = true;
            for (int i = 0; i < after.length; i++) {
                if (after[i] >= 0 && before[i] >= 0 && (after[i] - before[i]) / seconds >= SETTLED_MILLIS_PER_SECOND) {
                    settled = false;
                }
            }
            before = after;
            if (settled) {
                break;
            }
        }
        return (System.nanoTime() - start) / 1e9;
    }

    private static long[] read(List<CompileClock> clocks) throws Exception {
        long[] millis = new long[clocks.size()];
        for (int i = 0; i < millis.length; i++) {
            millis[i] = clocks.get(i).millis();
        }
        return millis;
    }
}
