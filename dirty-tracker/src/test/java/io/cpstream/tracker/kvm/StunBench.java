package io.cpstream.tracker.kvm;

import java.util.Arrays;
import java.util.concurrent.locks.LockSupport;

/**
 * Measures how long stuns take on this host: the time to stop every vCPU (what {@code stopNanos}
 * reports) and, for context, a whole checkpoint stun (stop, harvest, device state, resume).
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp target/classes:target/test-classes \
 *     io.cpstream.tracker.kvm.StunBench [spec] [stuns]
 * </pre>
 */
public final class StunBench {

    /** p50 and p99 in microseconds, of stop times and of whole stun cycles. */
    record Result(String spec, int stuns, double stopP50, double stopP99, double cycleP50, double cycleP99) {
        @Override
        public String toString() {
            return String.format("%s: %d stuns, stop p50 %.1f us, p99 %.1f us; stop+harvest+state+resume p50 %.1f us, p99 %.1f us",
                    spec, stuns, stopP50, stopP99, cycleP50, cycleP99);
        }
    }

    private StunBench() {
    }

    public static void main(String[] args) {
        String spec = args.length > 0 ? args[0] : "kvm:guest=counter,mem=64m";
        int stuns = args.length > 1 ? Integer.parseInt(args[1]) : 2000;
        System.out.println(run(spec, stuns));
    }

    static Result run(String spec, int stuns) {
        long[] stop = new long[stuns];
        long[] cycle = new long[stuns];
        try (KvmSource source = KvmSource.open(spec)) {
            source.start();
            for (int i = 0; i < stuns; i++) {
                LockSupport.parkNanos(1_000_000); // let the guest run between stuns, like a 1 ms epoch
                source.pollOutputs();
                long begin = System.nanoTime();
                try (var stun = source.stun()) {
                    stop[i] = stun.stopNanos();
                    stun.harvestDirty();
                    stun.deviceState();
                }
                cycle[i] = System.nanoTime() - begin;
            }
        }
        return new Result(spec, stuns, percentile(stop, 50), percentile(stop, 99), percentile(cycle, 50),
                percentile(cycle, 99));
    }

    private static double percentile(long[] nanos, double p) {
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        int index = (int) Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1);
        return sorted[Math.max(0, index)] / 1000.0;
    }
}
