package io.cpstream.collector;

import java.util.concurrent.ArrayBlockingQueue;

/**
 * The arrays the replication stream's large messages (page batches) are received into, each lent for one message
 * and taken back once that message is handled. A fresh array per message was the collector's largest allocation
 * (45% of a bench JVM's bytes: as many as the stream carries), and every GC cycle it set off slowed the next stuns
 * of an agent sharing the host several times over.
 *
 * <p>Lending is safe because gRPC parses a call's message on the thread that then hands it to the call's observer,
 * and {@link ReplicationStream} handles a message completely before it returns: nothing of it is kept (output
 * records, the only bytes a standby holds across messages, are copied by {@link OpenCheckpoint}). The array lent on
 * a thread is recorded there and given back by {@link #giveBack()} when the observer returns. An array that is never
 * given back (a parse that failed, a call cancelled between parse and handling) is only left to the garbage collector:
 * an array is never lent twice.
 *
 * <p>Bounded: arrays of {@link #BUFFER_BYTES} (a page batch of the most data a batch may carry, with its columns),
 * messages larger than that get an array of their own as before, and at most {@link #KEPT} free arrays are kept.
 */
final class ReceiveBuffers {

    /**
     * Room for one page batch at its limits: 1 MiB of data, 16384 records of columns (at most 26 bytes each: an index
     * gap and a base lag or source index of 10, a length of 5, an encoding of 1) and the fields' tags and lengths.
     */
    static final int BUFFER_BYTES = (1 << 20) + 16384 * 26 + 4096;
    /** Below this a message gets an array of its own: a small array costs less than the pool's hand-over. */
    static final int SMALLEST_LENT = 64 << 10;
    /** Free arrays kept: as many messages as the collector's streams handle at once, commonly. */
    static final int KEPT = 8;

    private final ArrayBlockingQueue<byte[]> free = new ArrayBlockingQueue<>(KEPT);
    private final ThreadLocal<byte[]> lent = new ThreadLocal<>();

    /** An array of at least {@code length} bytes for the message about to be parsed on this thread. */
    byte[] lend(int length) {
        if (length < SMALLEST_LENT || length > BUFFER_BYTES) {
            return new byte[length];
        }
        byte[] buffer = free.poll();
        if (buffer == null) {
            buffer = new byte[BUFFER_BYTES];
        }
        lent.set(buffer);
        return buffer;
    }

    /** The message parsed on this thread has been handled: its array may take another. */
    void giveBack() {
        byte[] buffer = lent.get();
        if (buffer != null) {
            lent.remove();
            free.offer(buffer);
        }
    }
}
