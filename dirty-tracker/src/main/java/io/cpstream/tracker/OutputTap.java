package io.cpstream.tracker;

import java.util.List;

/**
 * A guest as the agent sees it, plus a view of every output record whoever consumes the guest's output
 * takes from it, with the epoch the record belongs to: outputs taken while stunned for the N-th time
 * through this tap are epoch N (exactly those emitted before that stun); outputs taken while running
 * after N stuns are epoch N+1. The agent takes outputs at every stun, so with a fresh agent on a fresh
 * standby the tap's epoch N is the agent's epoch N.
 *
 * <p>The tap never takes outputs itself: it only watches {@link #pollOutputs(long)} calls, so the agent's
 * output commit sees every record, and its backpressure (leaving outputs in the guest) stays intact.
 * {@code demo} uses it to match the primary's last output of the promoted epoch with the promoted VM's
 * first output; {@code run} to print a restored VM's outputs.
 */
public final class OutputTap extends ForwardingSource {

    /** Receives outputs in order, each batch with the epoch its records belong to. Called under the tap's lock: be quick. */
    @FunctionalInterface
    public interface Listener {
        void onOutputs(long epoch, List<GuestOutput> outputs);
    }

    private final Listener listener;
    private final Object lock = new Object();
    /** Stuns through this tap so far. */
    private long stuns;
    private boolean stunned;

    public OutputTap(MemorySource guest, Listener listener) {
        super(guest);
        this.listener = listener;
    }

    @Override
    public Stun stun() {
        Stun inner = guest().stun();
        synchronized (lock) {
            stuns++;
            stunned = true;
        }
        return new ForwardingStun(inner) {
            @Override
            public void close() {
                synchronized (lock) {
                    stunned = false;
                }
                super.close();
            }
        };
    }

    @Override
    public List<GuestOutput> pollOutputs(long maxBytes) {
        synchronized (lock) {
            List<GuestOutput> outputs = guest().pollOutputs(maxBytes);
            long epoch = stunned ? stuns : stuns + 1;
            if (!outputs.isEmpty()) {
                listener.onOutputs(epoch, outputs);
            }
            return outputs;
        }
    }
}
