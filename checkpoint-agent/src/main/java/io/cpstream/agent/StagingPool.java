package io.cpstream.agent;

import io.cpstream.tracker.AnonymousMemory;
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

    /**
     * A buffer on loan, reserved before a stun and sized inside it ({@link #fit}); give it back with
     * {@link #close()}.
     */
    final class Lease implements AutoCloseable {
        private Buffer buffer;
        /** A buffer {@link #fit} outgrew inside the stun: given back with this lease, since freeing is no work for a stun. */
        private Buffer outgrown;
        private MemorySegment segment;
        private boolean allocated;
        private boolean returned;

        private Lease(Buffer buffer) {
            this.buffer = buffer;
            this.segment = buffer.whole();
        }

        /**
         * Inside the stun: makes {@link #segment()} exactly {@code bytes} long. Only a slice of the
         * reserved buffer, unless the dirty set outgrew it; then a fresh buffer is allocated here, and
         * {@link #allocated()} says so.
         */
        void fit(long bytes) {
            if (bytes > buffer.whole().byteSize()) {
                outgrown = buffer;
                buffer = allocate(bytes);
                allocated = true;
            }
            segment = buffer.whole().asSlice(0, bytes);
        }

        /** Bytes the reserved buffer holds: what a stun can copy into without allocating. */
        long capacity() {
            return buffer.whole().byteSize();
        }

        /**
         * After the stun, with the guest running: makes {@link #segment()} {@code bytes} long, allocating a larger
         * buffer if needed and carrying over what was copied into the current one. The epoch loop uses it when the
         * dirty set outgrew the reservation and the pages beyond it were protected instead of copied, so the stun
         * itself never allocates.
         */
        void grow(long bytes) {
            if (bytes > buffer.whole().byteSize()) {
                Buffer larger = allocate(bytes);
                MemorySegment.copy(buffer.whole(), 0, larger.whole(), 0, segment.byteSize());
                if (outgrown != null) {
                    giveBack(outgrown);
                }
                outgrown = buffer;
                buffer = larger;
            }
            segment = buffer.whole().asSlice(0, bytes);
        }

        MemorySegment segment() {
            return segment;
        }

        /** Whether {@link #fit} had to allocate (inside the stun): the reservation was too small. */
        boolean allocated() {
            return allocated;
        }

        @Override
        public void close() {
            if (!returned) {
                returned = true;
                giveBack(buffer);
                if (outgrown != null) {
                    giveBack(outgrown);
                }
            }
        }
    }

    StagingPool(int keep) {
        this.keep = keep;
    }

    /**
     * Before a stun, outside it: lends the smallest idle buffer of at least {@code bytes}, allocating one
     * if none is idle, so that the stun itself only slices it ({@link Lease#fit}). Allocating inside the
     * stun would zero and fault in a fresh buffer (milliseconds for a few MiB) while the guest is stopped,
     * and even picking from the pool takes a lock the sender's thread also takes.
     */
    Lease reserve(long bytes) {
        Buffer fit = null;
        synchronized (this) {
            for (Buffer buffer : idle) {
                long size = buffer.whole().byteSize();
                if (size >= bytes && (fit == null || size < fit.whole().byteSize())) {
                    fit = buffer;
                }
            }
            if (fit != null) {
                idle.remove(fit);
            }
        }
        return new Lease(fit != null ? fit : allocate(bytes));
    }

    private static Buffer allocate(long bytes) {
        Arena arena = Arena.ofShared();
        // Round up so a slightly larger dirty set next epoch still fits.
        long capacity = Math.max(4096, Long.highestOneBit(Math.max(bytes, 1) - 1) << 1);
        return new Buffer(arena, AnonymousMemory.allocate(capacity, 4096, arena));
    }

    /** Back to the pool; past {@code keep} buffers the smallest is freed, outside the lock {@link #reserve} needs. */
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
