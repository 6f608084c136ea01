package io.cpstream.agent;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;

/**
 * Off-heap buffers that hold copied pages between the stun and the wire. Reused, so the copy inside
 * the stun writes into memory that is already faulted in instead of fresh zeroed pages.
 */
final class StagingPool implements AutoCloseable {

    /** One off-heap buffer and the arena that frees it. */
    private record Buffer(Arena arena, MemorySegment whole) {
    }

    private final ArrayDeque<Buffer> idle = new ArrayDeque<>();
    private final int keep;
    private boolean closed;

    /** A buffer on loan; give it back with {@link #close()}. */
    final class Lease implements AutoCloseable {
        private final Buffer buffer;
        private final MemorySegment segment;
        private final boolean allocated;
        private boolean returned;

        private Lease(Buffer buffer, long bytes, boolean allocated) {
            this.buffer = buffer;
            this.segment = buffer.whole().asSlice(0, bytes);
            this.allocated = allocated;
        }

        MemorySegment segment() {
            return segment;
        }

        /** Whether {@link #take} had to allocate this buffer (inside the stun): {@link #prepare} was told too little. */
        boolean allocated() {
            return allocated;
        }

        @Override
        public void close() {
            if (!returned) {
                returned = true;
                giveBack(buffer);
            }
        }
    }

    StagingPool(int keep) {
        this.keep = keep;
    }

    /**
     * Before a stun, outside it: makes sure an idle buffer of at least {@code bytes} is waiting, so that
     * {@link #take} inside the stun only picks one. Allocating there would zero and fault in a fresh buffer
     * (milliseconds for a few MiB) while the guest is stopped.
     */
    void prepare(long bytes) {
        synchronized (this) {
            if (closed || idle.stream().anyMatch(buffer -> buffer.whole().byteSize() >= bytes)) {
                return;
            }
        }
        Buffer fresh = allocate(bytes);
        giveBack(fresh);
    }

    /**
     * A buffer of exactly {@code bytes}. Called inside the stun, so it never frees memory (closing a shared
     * arena is a handshake with every thread); it allocates only when {@link #prepare} was told too little.
     */
    synchronized Lease take(long bytes) {
        Buffer fit = null;
        for (Buffer buffer : idle) {
            if (buffer.whole().byteSize() >= bytes && (fit == null || buffer.whole().byteSize() < fit.whole().byteSize())) {
                fit = buffer;
            }
        }
        if (fit != null) {
            idle.remove(fit);
            return new Lease(fit, bytes, false);
        }
        return new Lease(allocate(bytes), bytes, true);
    }

    private static Buffer allocate(long bytes) {
        Arena arena = Arena.ofShared();
        // Round up so a slightly larger dirty set next epoch still fits.
        long capacity = Math.max(4096, Long.highestOneBit(Math.max(bytes, 1) - 1) << 1);
        return new Buffer(arena, arena.allocate(capacity, 4096));
    }

    /** Back to the pool; past {@code keep} buffers the smallest is freed, outside the lock {@link #take} needs. */
    private void giveBack(Buffer buffer) {
        Buffer retired;
        synchronized (this) {
            if (closed) {
                retired = buffer;
            } else {
                idle.add(buffer);
                retired = null;
                if (idle.size() > keep) {
                    retired = idle.stream().min(java.util.Comparator.comparingLong(b -> b.whole().byteSize())).orElseThrow();
                    idle.remove(retired);
                }
            }
        }
        if (retired != null) {
            retired.arena().close();
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        idle.forEach(buffer -> buffer.arena().close());
        idle.clear();
    }
}
