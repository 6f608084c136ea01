package io.cpstream.tracker;

import java.util.BitSet;

/** A stun that forwards every call to another, for decorators that change one thing a stun reports. */
public abstract class ForwardingStun implements Stun {

    private final Stun inner;

    protected ForwardingStun(Stun inner) {
        this.inner = inner;
    }

    @Override
    public BitSet harvestDirty() {
        return inner.harvestDirty();
    }

    @Override
    public byte[] deviceState() {
        return inner.deviceState();
    }

    @Override
    public ProtectedPages protect(BitSet pages) {
        return inner.protect(pages);
    }

    @Override
    public long stopNanos() {
        return inner.stopNanos();
    }

    @Override
    public long resumedAtNanos() {
        return inner.resumedAtNanos();
    }

    @Override
    public void close() {
        inner.close();
    }
}
