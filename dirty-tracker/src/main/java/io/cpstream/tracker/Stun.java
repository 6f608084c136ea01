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

    /** How long it took to bring every writer to a stop, in nanoseconds. */
    long stopNanos();

    /** Resumes the guest. */
    @Override
    void close();
}
