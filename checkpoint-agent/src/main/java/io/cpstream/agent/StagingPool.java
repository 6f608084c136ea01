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
        private boolean returned;

        private Lease(Buffer buffer, long bytes) {
            this.buffer = buffer;
            this.segment = buffer.whole().asSlice(0, bytes);
        }

        MemorySegment segment() {
            return segment;
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
     * A buffer of exactly {@code bytes}. Called inside the stun, so it never frees memory (closing a shared
     * arena is a handshake with every thread): buffers too small for this epoch stay in the pool, and
     * {@link #giveBack} retires the smallest when it holds too many.
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
            return new Lease(fit, bytes);
        }
        Arena arena = Arena.ofShared();
        // Round up so a slightly larger dirty set next epoch still fits.
        long capacity = Math.max(4096, Long.highestOneBit(Math.max(bytes, 1) - 1) << 1);
        return new Lease(new Buffer(arena, arena.allocate(capacity, 4096)), bytes);
    }

    private synchronized void giveBack(Buffer buffer) {
        if (closed) {
            buffer.arena().close();
            return;
        }
        idle.add(buffer);
        if (idle.size() > keep) {
            Buffer smallest = idle.stream().min(java.util.Comparator.comparingLong(b -> b.whole().byteSize())).orElseThrow();
            idle.remove(smallest);
            smallest.arena().close();
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        idle.forEach(buffer -> buffer.arena().close());
        idle.clear();
    }
}
