package io.cpstream.harness;

import io.cpstream.agent.output.OutputReceiver;
import java.util.ArrayList;
import java.util.List;

/**
 * Watches a sink's released records every few milliseconds, to tell how long a guest's output stopped: the
 * longest time without a new record around a fault. What the guest's clients would see as the outage.
 */
final class ReleaseSampler implements AutoCloseable {

    private static final long PERIOD_MILLIS = 2;

    private final OutputReceiver receiver;
    /** System.nanoTime() of every sample at which the released count had grown. */
    private final List<Long> growth = new ArrayList<>();
    private final Thread thread;

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
     * The longest time without a released record from the last release before {@code faultNanos} until now: how
     * long the output stopped because of the fault.
     */
    long longestStallMillis(long faultNanos) {
        List<Long> times;
        synchronized (growth) {
            times = List.copyOf(growth);
        }
        long previous = faultNanos;
        for (long t : times) {
            if (t <= faultNanos) {
                previous = t;
            }
        }
        long longest = 0;
        for (long t : times) {
            if (t > faultNanos) {
                longest = Math.max(longest, t - previous);
                previous = t;
            }
        }
        longest = Math.max(longest, System.nanoTime() - previous);
        return longest / 1_000_000;
    }

    @Override
    public void close() {
        thread.interrupt();
    }
}
