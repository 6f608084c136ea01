package io.cpstream.tracker.process;

import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.Stun;
import java.util.Arrays;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * What a process stun costs for a given resident size: stop (SIGSTOP until every thread is stopped),
 * harvest (read and hash all resident writable memory) and resume, with a thread writing one page all
 * the time. Prints figures for the README; judges nothing (timing depends on the machine's load).
 */
class ProcessStunTiming {

    private static final int STUNS = 30;

    @Test
    void printStunCostByResidentSize() throws Exception {
        for (int mib : new int[] {16, 64, 256}) {
            try (MemWriter writer = MemWriter.start()) {
                long[] region = writer.map(mib * 256);
                writer.fillAll(region[0], 0x5a);
                long[] spinning = writer.map(1);
                writer.spin(spinning[0]);
                try (ProcessSource source = (ProcessSource) MemorySources.open("process:pid=" + writer.pid()
                        + ",max=" + (mib * 2 + 64) + "m")) {
                    long[] stop = new long[STUNS];
                    long[] harvest = new long[STUNS];
                    long[] total = new long[STUNS];
                    long read = 0;
                    for (int i = 0; i < STUNS; i++) {
                        long begin = System.nanoTime();
                        try (Stun stun = source.stun()) {
                            stop[i] = stun.stopNanos();
                            long harvestBegin = System.nanoTime();
                            stun.harvestDirty();
                            harvest[i] = System.nanoTime() - harvestBegin;
                        }
                        total[i] = System.nanoTime() - begin;
                        read += source.lastScan().readBytes();
                        Thread.sleep(10);
                    }
                    double scanSeconds = Arrays.stream(harvest).sum() / 1e9;
                    System.out.printf(Locale.ROOT, "process stun, %d MiB resident: stop p50 %.3f ms p99 %.3f ms, harvest p50 %.1f ms "
                                    + "(%.0f MB/s), stun total p50 %.1f ms p99 %.1f ms%n", mib, p(stop, 50), p(stop, 99),
                            p(harvest, 50), read / 1e6 / scanSeconds, p(total, 50), p(total, 99));
                }
            }
        }
    }

    private static double p(long[] nanos, int percentile) {
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(percentile / 100.0 * sorted.length) - 1)] / 1e6;
    }
}
