package io.cpstream.tracker.trace;

import java.lang.foreign.MemorySegment;
import java.util.BitSet;

/**
 * One recorded epoch: when its stun happened and how long it took, the device state, the pages the
 * harvest reported dirty and what they held, and the SHA-256 of the whole image after applying them.
 *
 * @param epoch       1, 2, 3, ... in recording order
 * @param offsetNanos stun time, nanoseconds after the first recorded stun
 * @param unixMicros  stun wall-clock time
 * @param stopNanos   how long the recorded source took to stop
 * @param pauseNanos  how long the recorded source stayed stunned (stop, harvest, copy, resume)
 * @param dirty       the harvested dirty set
 * @param zero        the dirty pages whose new content is all zeros (a subset of {@code dirty})
 * @param data        the other dirty pages' contents, in page order; owned by the reader and
 *                    overwritten by its next read
 */
public record TraceEpoch(long epoch, long offsetNanos, long unixMicros, long stopNanos, long pauseNanos,
                         byte[] deviceState, BitSet dirty, BitSet zero, MemorySegment data, byte[] digest) {

    /** Writes this epoch's dirty pages into {@code image}, which then is the recorded image after this epoch. */
    public void applyTo(MemorySegment image, int pageSize) {
        long offset = 0;
        for (int page = dirty.nextSetBit(0); page >= 0; page = dirty.nextSetBit(page + 1)) {
            long at = (long) page * pageSize;
            if (zero.get(page)) {
                image.asSlice(at, pageSize).fill((byte) 0);
            } else {
                MemorySegment.copy(data, offset, image, at, pageSize);
                offset += pageSize;
            }
        }
    }
}
