package io.cpstream.harness;

import io.cpstream.agent.output.OutputReceiver;
import java.util.ArrayList;
import java.util.List;

/**
 * Watches a sink's released records every few milliseconds, to tell how long a guest's output stopped: the
 * longest time without a new record after a fault, and how long
 * the output had been quiet when it struck. What the guest's clients would see as the outage.
 */
final class ReleaseSampler implements AutoCloseable {

    private static final long PERIOD_MILLIS = 2;

    private final OutputReceiver receiver;
    /** System.nanoTime() of every sample at which the released count had grown. */
    private final List<Long> growth = new ArrayList<>();
    private final Thread thread;
    private final long startedNanos = System.nanoTime();

    private ReleaseSampler(OutputReceiver receiver) {
        this.receiver = receiver;
        this.thread = Thread.ofPlatform().daemon().name("release-sampler").unstarted(this::sample);
    }

    static ReleaseSampler start(OutputReceiver receiver) {
        ReleaseSampler sampler = new ReleaseSampler(receiver);
        sampler.thread.start();
        return sampler;
    }

    private void sample() {
        long last = receiver.acceptedRecords();
        while (!Thread.currentThread().isInterrupted()) {
            long now = receiver.acceptedRecords();
            if (now > last) {
                synchronized (growth) {
                    growth.add(System.nanoTime());
                }
                last = now;
            }
            try {
                Thread.sleep(PERIOD_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /**
     * How the output stopped around a fault.
     *
     * @param afterFaultMillis   the longest time without a released record from the fault until now: what the fault
     *                           itself cost the guest's clients
     * @param quietAtFaultMillis how long before the fault the last record had been released: the output's own lag at
     *                           that moment (releases wait for acknowledged checkpoints), which a fault adds to but
     *                           does not cause; reported beside the stall so neither hides in the other
     * @param beganMillis        when, after the fault, that longest stop began: at 0 the fault's own outage (finding
     *                           the standby gone, fencing it); later, a stop while a new standby caught up
     */
    record Stall(long afterFaultMillis, long quietAtFaultMillis, long beganMillis) {
    }

    Stall stall(long faultNanos) {
        List<Long> times;
        synchronized (growth) {
            times = List.copyOf(growth);
        }
        long lastBefore = -1;
        long previous = faultNanos;
        long longest = 0;
        long began = faultNanos;
        for (long t : times) {
            if (t <= faultNanos) {
                lastBefore = t;
            } else {
                if (t - previous > longest) {
                    longest = t - previous;
                    began = previous;
                }
                previous = t;
            }
        }
        long now = System.nanoTime();
        if (now - previous > longest) {
            longest = now - previous;
            began = previous;
        }
        // Sampled since start(): with no release seen before the fault, the quiet time is at least that long.
        long quiet = faultNanos - (lastBefore >= 0 ? lastBefore : startedNanos);
        return new Stall(longest / 1_000_000, Math.max(0, quiet) / 1_000_000, (began - faultNanos) / 1_000_000);
    }

    @Override
    public void close() {
        thread.interrupt();
    }
}
