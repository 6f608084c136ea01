package io.cpstream.tracker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * What every source's stuns must keep, checked over many stuns in a row on a started guest (timing is
 * for the benchmarks, e.g. kvm's {@code StunBench}, never judged here):
 * <ul>
 * <li>the stop time it reports lies within the {@link MemorySource#stun()} call;</li>
 * <li>the first harvest reports every page; no harvest reports a page outside the guest;</li>
 * <li>the outputs taken while stunned for the i-th time are tagged epoch i (emitted after stun i-1, before
 *     stun i), and their indexes follow on without a gap or a repeat;</li>
 * <li>an epoch whose stun took outputs also harvested a dirty page: the guests here write memory for every
 *     output (the counter, the record), and a dirty set that misses those writes misses the cause of an
 *     output the checkpoint is to release;</li>
 * <li>the resume stamp falls inside {@link Stun#close()}, after the stop, and is -1 while the stun is open;</li>
 * <li>the guest makes progress between stuns: it still emits output in the second half of the run (a stun
 *     that leaves the guest stopped, or stops it for good after some stuns, fails here).</li>
 * </ul>
 */
public final class StunContract {

    /** How long the guest may take to show progress after the planned stuns, on a slow emulated host. */
    private static final Duration PATIENCE = Duration.ofSeconds(60);

    /** What a run saw: stuns taken (at least those planned) and outputs taken at them. */
    public record Run(int stuns, long outputs, int stunsWithOutputs) {
    }

    private StunContract() {
    }

    /**
     * Stuns the started {@code source} {@code stuns} times, {@code between} apart, checking every stun, then
     * keeps stunning (up to a minute) until the guest has emitted output in the second half of the run.
     */
    public static Run check(MemorySource source, int stuns, Duration between) {
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        long nextIndex = -1;
        long outputs = 0;
        int withOutputs = 0;
        boolean lateProgress = false;
        int stun = 0;
        while (stun < stuns || !lateProgress) {
            if (stun >= stuns && System.nanoTime() > deadline) {
                fail("the guest emitted no output after stun " + stuns / 2 + " within " + PATIENCE.toSeconds()
                        + " s of " + stun + " stuns: it makes no progress between stuns");
            }
            stun++;
            LockSupport.parkNanos(between.toNanos());
            source.fault().ifPresent(reason -> fail("the guest faulted: " + reason));
            Stunned seen = stunOnce(source, stun);
            for (GuestOutput output : seen.outputs()) {
                assertEquals(stun, output.epoch(), () -> "output " + output.index() + " taken at stun " + seen.number()
                        + " belongs to epoch " + output.epoch());
                if (nextIndex >= 0) {
                    assertEquals(nextIndex, output.index(), "output indexes follow on without a gap or a repeat");
                }
                nextIndex = output.index() + 1;
            }
            if (!seen.outputs().isEmpty()) {
                assertFalse(seen.dirty().isEmpty(), () -> "stun " + seen.number() + " took " + seen.outputs().size()
                        + " outputs but harvested no dirty page");
                outputs += seen.outputs().size();
                withOutputs++;
                lateProgress |= stun > stuns / 2;
            }
        }
        return new Run(stun, outputs, withOutputs);
    }

    private record Stunned(int number, BitSet dirty, List<GuestOutput> outputs) {
    }

    private static Stunned stunOnce(MemorySource source, int number) {
        long requested = System.nanoTime();
        Stun stun = source.stun();
        long stopped = System.nanoTime();
        BitSet dirty;
        List<GuestOutput> outputs;
        long beforeClose;
        try {
            assertTrue(stun.stopNanos() >= 0 && stun.stopNanos() <= stopped - requested, () -> "stun " + number
                    + " reports a stop of " + stun.stopNanos() + " ns, but stun() returned after "
                    + (stopped - requested) + " ns");
            dirty = stun.harvestDirty();
            if (number == 1) {
                assertEquals(source.pageCount(), dirty.cardinality(), "every page is dirty before the first harvest");
            }
            assertTrue(dirty.length() <= source.pageCount(), () -> "stun " + number + " harvested page "
                    + (dirty.length() - 1) + " of a guest of " + source.pageCount());
            outputs = source.pollOutputs();
            assertTrue(stun.deviceState().length > 0, "a device state");
            assertEquals(-1, stun.resumedAtNanos(), "no resume stamp while the stun is open");
        } finally {
            beforeClose = System.nanoTime();
            stun.close();
        }
        long closed = System.nanoTime();
        long resumedAt = stun.resumedAtNanos();
        // After the stop: close() starts after stun() returned.
        assertTrue(resumedAt >= beforeClose && resumedAt <= closed,
                () -> "stun " + number + " resumed at " + (resumedAt - stopped) + " ns after it stopped; close() ran "
                        + (beforeClose - stopped) + " to " + (closed - stopped) + " ns after");
        return new Stunned(number, dirty, outputs);
    }
}
