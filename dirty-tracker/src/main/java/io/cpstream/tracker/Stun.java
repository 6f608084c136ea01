package io.cpstream.tracker;

import java.util.BitSet;

/**
 * A stopped guest. Valid until {@link #close()}, which resumes it; everything a checkpoint must
 * capture consistently (dirty set, page contents, device state) is read while this is open.
 */
public interface Stun extends AutoCloseable {

    /**
     * The pages written since the previous harvest (all pages on the first one), and resets
     * tracking so the next harvest starts empty.
     */
    BitSet harvestDirty();

    /** The guest's vCPU and device state at this stun, as an opaque blob. */
    byte[] deviceState();

    /**
     * Write-protects {@code pages} for copy-before-write: after this stun closes the guest runs on, and
     * the returned set yields each page as it was at this stun. At most one set may be open per source;
     * close it before protecting at a later stun. Only for sources whose
     * {@link MemorySource#protectionUnavailable()} is empty.
     *
     * @throws UnsupportedOperationException if the source cannot protect pages
     * @throws IllegalStateException if a set protected at an earlier stun is still open
     */
    default ProtectedPages protect(BitSet pages) {
        throw new UnsupportedOperationException("this source cannot write-protect pages");
    }

    /** How long it took to bring every writer to a stop, in nanoseconds. */
    long stopNanos();

    /**
     * When {@link #close()} let the guest go, in {@link System#nanoTime()} terms, or -1 while the stun is
     * open: where the pause ends. Sources take it right before the release rather than after
     * {@code close()} returns, because the threads the release wakes (vCPUs, writers) often take the CPU
     * from the caller on the spot, and time the guest spends running is no part of its pause.
     */
    long resumedAtNanos();

    /** Resumes the guest. */
    @Override
    void close();
}
