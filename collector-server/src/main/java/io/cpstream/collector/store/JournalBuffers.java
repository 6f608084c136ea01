package io.cpstream.collector.store;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * The direct buffers every journal of a collector writes and reads through: at most {@code count} of
 * {@value #BUFFER_BYTES} bytes, allocated on first need and then kept, so the journals' direct memory stays within
 * {@code count} MiB whatever the number of VMs (it was two per VM).
 *
 * <p>A journal holds a buffer only while it does local work: staging the pages of one message, sealing, reading the
 * journal back to apply it, recovering it at open. It gives it back before waiting on the network, and never holds
 * two at once, so no borrower waits on another that waits in turn: the pool cannot deadlock, and a stalled agent
 * (a Begin and then silence) holds nothing. When every buffer is out, a borrower waits at most {@link #wait()} and
 * then fails with an IOException: the message is refused as a storage error before anything of it is sealed (the
 * agent resends), or a recovery at open reports the standby unopened, never a mix.
 *
 * <p>Waiters are served in arrival order, and a buffer given back goes to the oldest waiter before anyone who asks
 * after it. Without that, a VM that gave a buffer back and asked again for its next message could take it before the
 * waiter the release woke (Java monitors let a newcomer barge), so a few VMs could keep the pool while others waited
 * out their turns.
 *
 * <p>Thread-safe.
 */
public final class JournalBuffers {

    /** One buffer: room for several page records and their framing, and the read window of a journal. */
    public static final int BUFFER_BYTES = 1 << 20;

    /** A borrowed buffer: the buffer itself and the whole of it as a segment, for copying pages in. */
    record Buffer(ByteBuffer bytes, MemorySegment segment) {
    }

    private final int count;
    private final long waitNanos;
    private final ArrayDeque<Buffer> free = new ArrayDeque<>();
    /** Borrowers waiting for a buffer, oldest first; each waits until it is first and a buffer is available. */
    private final ArrayDeque<Object> waiting = new ArrayDeque<>();
    /** Written under the pool's monitor, read by gauges without it. */
    private volatile int allocated;
    private volatile int inUse;
    private int peakInUse;
    private long waits;
    private long timeouts;

    public JournalBuffers(int count, Duration wait) {
        if (count < 1) {
            throw new IllegalArgumentException("at least one journal buffer is needed, not " + count);
        }
        this.count = count;
        this.waitNanos = wait.toNanos();
    }

    /** One buffer for one store (tools and tests that open a single standby). */
    public static JournalBuffers single() {
        return new JournalBuffers(1, Duration.ofSeconds(30));
    }

    synchronized Buffer borrow() throws IOException {
        if (!waiting.isEmpty() || !available()) {
            awaitTurn();
        }
        Buffer buffer = free.poll();
        if (buffer == null) {
            ByteBuffer bytes = ByteBuffer.allocateDirect(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            buffer = new Buffer(bytes, MemorySegment.ofBuffer(bytes));
            allocated++;
        }
        inUse++;
        peakInUse = Math.max(peakInUse, inUse);
        buffer.bytes().clear();
        return buffer;
    }

    /** Waits, in arrival order, until this borrower is the oldest and a buffer is available. */
    private void awaitTurn() throws IOException {
        Object turn = new Object();
        waiting.addLast(turn);
        waits++;
        long deadline = System.nanoTime() + waitNanos;
        try {
            while (waiting.peekFirst() != turn || !available()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    timeouts++;
                    throw new IOException("no journal buffer came free within " + TimeUnit.NANOSECONDS.toMillis(waitNanos)
                            + " ms: all " + count + " (journal-buffers) are in use by other VMs' commits");
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for a journal buffer", e);
        } finally {
            waiting.remove(turn);
            notifyAll(); // whoever is first now (served or given up) may go
        }
    }

    private boolean available() {
        return !free.isEmpty() || allocated < count;
    }

    synchronized void release(Buffer buffer) {
        free.push(buffer);
        inUse--;
        notifyAll();
    }

    public int count() {
        return count;
    }

    public Duration waitLimit() {
        return Duration.ofNanos(waitNanos);
    }

    /** What the pool holds and did, for metrics and tests. */
    public record Stats(int count, int allocated, int inUse, int peakInUse, long waits, long timeouts) {
        public long directBytes() {
            return (long) allocated * BUFFER_BYTES;
        }
    }

    /** Direct bytes the pool holds, read without its monitor (for gauges). */
    public long directBytes() {
        return (long) allocated * BUFFER_BYTES;
    }

    /** Buffers borrowed now, read without the pool's monitor (for gauges). */
    public int inUse() {
        return inUse;
    }

    public synchronized Stats stats() {
        return new Stats(count, allocated, inUse, peakInUse, waits, timeouts);
    }
}
