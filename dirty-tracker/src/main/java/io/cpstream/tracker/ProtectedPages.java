package io.cpstream.tracker;

import java.lang.foreign.MemorySegment;
import java.util.BitSet;

/**
 * Pages write-protected at a stun that the guest may write again before they have been copied
 * (copy-before-write). The guest runs again as soon as the stun closes; a page the guest writes before
 * {@link #copyPage} reached it is saved by the source first, so {@link #copyPage} always yields the page
 * as it was at the stun. This is what lets the agent copy stable pages after the guest resumed.
 *
 * <p>Each protected page is copied at most once; {@link #close()} lifts whatever protection is left and
 * frees saved copies. Thread-safe: copying may run on any thread while the guest writes.
 */
public interface ProtectedPages extends AutoCloseable {

    /** The pages protected at the stun. Do not modify. */
    BitSet pages();

    /**
     * Copies {@code page} as it was at the stun into {@code dst} at {@code dstOffset} and lifts its
     * protection.
     *
     * @throws IllegalArgumentException if the page was not protected
     * @throws IllegalStateException if it was copied already or the set is closed
     */
    void copyPage(int page, MemorySegment dst, long dstOffset);

    /** How many protected pages the guest wrote before they were copied, so the source saved them first. */
    long cowFaults();

    /** Lifts the protection of every page not copied yet and frees the saved copies. */
    @Override
    void close();
}
