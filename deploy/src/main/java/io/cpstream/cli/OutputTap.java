package io.cpstream.cli;

import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.Stun;
import java.lang.foreign.MemorySegment;
import java.util.BitSet;
import java.util.List;
import java.util.Map;

/**
 * A guest as the agent sees it, plus a view of every output record it emits and the epoch that record
 * belongs to: epoch N holds the outputs emitted before the N-th stun through this tap (and after the
 * one before). With a fresh agent on a fresh standby, the N-th stun is the agent's epoch N.
 *
 * <p>The tap takes nothing away from anyone: whoever calls {@link #pollOutputs()} still gets the
 * outputs (the agent, once it commits outputs itself), and the tap only reports them to its listener.
 * If nobody polls during a stun, the tap polls just before the guest resumes, so every epoch is sealed
 * exactly and the guest's output buffer never fills.
 *
 * <p>It is how {@code demo}, {@code bench} and {@code run} see outputs until the agent hands its
 * released outputs to a sink of its own; then the listener moves there.
 */
final class OutputTap implements MemorySource {

    /** Receives outputs in order, each batch with the epoch its records belong to. Called under the tap's lock: be quick. */
    @FunctionalInterface
    interface Listener {
        void onOutputs(long epoch, List<GuestOutput> outputs);
    }

    private final MemorySource guest;
    private final Listener listener;
    private final Object lock = new Object();
    /** Stuns through this tap so far. */
    private long stuns;
    private boolean stunned;
    private boolean polledDuringStun;

    OutputTap(MemorySource guest, Listener listener) {
        this.guest = guest;
        this.listener = listener;
    }

    /** The guest behind the tap. */
    MemorySource guest() {
        return guest;
    }

    @Override
    public String kind() {
        return guest.kind();
    }

    @Override
    public Map<String, String> params() {
        return guest.params();
    }

    @Override
    public int pageSize() {
        return guest.pageSize();
    }

    @Override
    public int pageCount() {
        return guest.pageCount();
    }

    @Override
    public void start() {
        guest.start();
    }

    @Override
    public Stun stun() {
        Stun inner = guest.stun();
        synchronized (lock) {
            stuns++;
            stunned = true;
            polledDuringStun = false;
        }
        return new Stun() {
            private boolean open = true;

            @Override
            public BitSet harvestDirty() {
                return inner.harvestDirty();
            }

            @Override
            public byte[] deviceState() {
                return inner.deviceState();
            }

            @Override
            public long stopNanos() {
                return inner.stopNanos();
            }

            @Override
            public void close() {
                if (!open) {
                    return;
                }
                open = false;
                try {
                    synchronized (lock) {
                        try {
                            if (!polledDuringStun) {
                                List<GuestOutput> outputs = guest.pollOutputs();
                                if (!outputs.isEmpty()) {
                                    listener.onOutputs(stuns, outputs);
                                }
                            }
                        } finally {
                            stunned = false;
                        }
                    }
                } finally {
                    inner.close();
                }
            }
        };
    }

    @Override
    public void copyPage(int page, MemorySegment dst, long dstOffset) {
        guest.copyPage(page, dst, dstOffset);
    }

    @Override
    public List<GuestOutput> pollOutputs() {
        synchronized (lock) {
            List<GuestOutput> outputs = guest.pollOutputs();
            // Running after stun k: these were emitted after it (the tap drained stun k), so they are epoch k+1.
            long epoch = stunned ? stuns : stuns + 1;
            if (stunned) {
                polledDuringStun = true;
            }
            if (!outputs.isEmpty()) {
                listener.onOutputs(epoch, outputs);
            }
            return outputs;
        }
    }

    @Override
    public void close() {
        guest.close();
    }
}
