package io.cpstream.collector.lease;

import io.cpstream.coordination.CoordinationException;
import java.util.function.LongConsumer;

/**
 * The embedded authority of a single collector: the standby's own manifest holds the fencing epoch,
 * and promotion is serialised by the standby itself, so there is nothing else to ask.
 */
public final class LocalLeases implements LeaseAuthority {

    @Override
    public long fencingEpoch(String vm, long local) {
        return local;
    }

    @Override
    public boolean mayGrant(String vm, long fencingEpoch, String holder) {
        return true;
    }

    @Override
    public void released(String vm) {
    }

    @Override
    public boolean heldElsewhere(String vm) {
        return false;
    }

    @Override
    public long raise(String vm, long expected) throws CoordinationException {
        if (expected < 0 || expected == Long.MAX_VALUE) {
            throw new CoordinationException("vm " + vm + ": fencing epoch " + Long.toUnsignedString(expected)
                    + " cannot be raised");
        }
        return expected + 1;
    }

    @Override
    public void watch(String vm, LongConsumer listener) {
    }

    @Override
    public void close() {
    }

    @Override
    public String toString() {
        return "local";
    }
}
