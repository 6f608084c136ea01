package io.cpstream.tracker;

/**
 * What every source's {@link Stun} shares: it knows how long the stop took, it is open until the first
 * {@link #close()}, and that close stamps the moment it lets the guest go ({@link #resumedAtNanos()})
 * right before the source's own {@link #release()}. Sources supply the harvest, the device state, the
 * protection and the release.
 */
public abstract class SourceStun implements Stun {

    private final String what;
    private final long stopNanos;
    private boolean open = true;
    private long resumedAt = -1;

    /**
     * @param what      what is stunned, for the error a late call gets ("guest", "process")
     * @param stopNanos how long bringing it to a stop took
     */
    protected SourceStun(String what, long stopNanos) {
        this.what = what;
        this.stopNanos = stopNanos;
    }

    /** Lets the guest run again: called once, by the first {@link #close()}, after the resume time is stamped. */
    protected abstract void release();

    /** For every call that needs the guest stopped. */
    protected final void requireOpen() {
        if (!open) {
            throw new IllegalStateException("the " + what + " was already resumed");
        }
    }

    @Override
    public final long stopNanos() {
        return stopNanos;
    }

    @Override
    public final long resumedAtNanos() {
        return resumedAt;
    }

    @Override
    public void close() {
        if (open) {
            open = false;
            resumedAt = System.nanoTime();
            release();
        }
    }
}
