package io.cpstream.harness.bench;

import java.io.PrintStream;

/**
 * How every pipeline of a benchmark runs and reports.
 *
 * @param source        the guest to protect, a source spec
 * @param seconds       the measured window of each pipeline
 * @param warmupSeconds the unmeasured start of each pipeline, once its full sync is acknowledged
 * @param warmupEpochs  when positive, instead of {@code warmupSeconds}: warm up until this many checkpoints are
 *                      acknowledged (a replayed trace: 1 covers the full sync without using up the trace)
 * @param warmupMaxSeconds when above {@code warmupSeconds}: after those, the warm-up goes on until the JIT has
 *                      settled ({@link JitWarmup}), at most this long in all; otherwise the warm-up is fixed
 * @param quiet         no progress line a second in the measured window, no table per encoder
 * @param out           where what a run says while it runs goes
 */
public record BenchSettings(String source, int seconds, int warmupSeconds, long warmupEpochs, int warmupMaxSeconds,
                            boolean quiet, PrintStream out) {

    /** Whether the warm-up waits for the JIT after its fixed part. */
    boolean waitsForJit() {
        return warmupEpochs <= 0 && warmupMaxSeconds > warmupSeconds;
    }

    /** How long the warm-up may go on after its fixed part, waiting for the JIT. */
    java.time.Duration jitWaitLimit() {
        return java.time.Duration.ofSeconds(Math.max(0, warmupMaxSeconds - warmupSeconds));
    }
}
