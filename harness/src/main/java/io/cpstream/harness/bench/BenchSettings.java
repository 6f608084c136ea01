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
 * @param quiet         no progress line a second in the measured window, no table per encoder
 * @param out           where what a run says while it runs goes
 */
public record BenchSettings(String source, int seconds, int warmupSeconds, long warmupEpochs, boolean quiet,
                            PrintStream out) {
}
