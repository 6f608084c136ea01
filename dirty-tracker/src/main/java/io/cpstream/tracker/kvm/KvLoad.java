package io.cpstream.tracker.kvm;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.locks.LockSupport;

/**
 * A client of the {@code kv} guest: puts request {@code first}, {@code first + 1}, ... into its input channel on a
 * steady schedule, request {@code i} due {@code (i - first) / rate} seconds after {@link #start()}. A request the
 * channel refuses (its queue is full) is offered again at the next tick, so the guest sees every id once and in order,
 * and its answers carry consecutive ids: what a check of the released stream relies on. Requests are puts of a
 * 64-byte value under one of {@value #KEYS} keys, so the table never fills.
 *
 * <p>What the source parameter {@code emu:guest=kv,load=RATE} runs beside a booted guest (the agent daemon has no
 * other client), what {@code bench --compare-protect} measures output latency under, and, from the id after the last
 * answer, how a chaos trial's client goes on with a promoted VM.
 */
public final class KvLoad implements AutoCloseable {

    /** Sees every offer: the request's id and whether the channel took it. */
    @FunctionalInterface
    public interface Listener {
        void offered(long id, boolean queued);
    }

    static final int KEYS = 256;

    private final KvmSource kv;
    private final long periodNanos;
    private final Listener listener;
    private volatile long next;
    private volatile boolean stopped;
    private Thread thread;

    public KvLoad(KvmSource kv, int requestsPerSecond, long first, Listener listener) {
        if (requestsPerSecond < 1) {
            throw new IllegalArgumentException("a kv load needs at least one request per second");
        }
        this.kv = kv;
        this.periodNanos = 1_000_000_000L / requestsPerSecond;
        this.listener = listener;
        this.next = first;
    }

    /** The request {@code id}: a put of a 64-byte value under key {@code key-(id mod KEYS)}. */
    public static byte[] request(long id) {
        byte[] value = new byte[64];
        Arrays.fill(value, (byte) 'v');
        return KvProtocol.put(id, ("key-" + id % KEYS).getBytes(StandardCharsets.UTF_8), value);
    }

    public synchronized KvLoad start() {
        if (thread == null) {
            thread = Thread.ofPlatform().daemon().name("kv-load").start(this::offer);
        }
        return this;
    }

    /** The id of the next request to be taken by the guest's channel. */
    public long next() {
        return next;
    }

    private void offer() {
        long start = System.nanoTime();
        for (long tick = 0; !stopped; tick++) {
            long due = start + tick * periodNanos;
            long wait;
            while (!stopped && (wait = due - System.nanoTime()) > 0) {
                LockSupport.parkNanos(wait);
            }
            if (stopped) {
                return;
            }
            long id = next;
            boolean queued;
            try {
                queued = kv.offerInput(request(id));
            } catch (IllegalStateException closed) {
                return; // the guest is gone
            }
            if (queued) {
                next = id + 1;
            }
            listener.offered(id, queued);
        }
    }

    @Override
    public void close() {
        Thread running;
        synchronized (this) {
            stopped = true;
            running = thread;
        }
        if (running != null) {
            LockSupport.unpark(running);
            try {
                running.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
