package io.cpstream.collector;

import io.cpstream.proto.Heartbeat;
import io.cpstream.proto.LeaseGrant;
import java.util.concurrent.TimeUnit;

/**
 * Whether the primary of a VM is alive as far as this collector can tell: the lease its heartbeats earn, and how
 * long it has been silent. The primary times a grant from its heartbeat's send, which is earlier than our
 * receipt, so our view of the lease always outlasts its own. Not thread-safe: the standby's lock guards it.
 */
final class PrimaryLiveness {

    private final long leaseNanos;
    /** Until when (System.nanoTime) the last grant lets the primary act. */
    private long leaseUntilNanos;
    private boolean granted;
    /** Set when a granted lease was seen to run out, until {@link #takeExpiry()} reports it. */
    private boolean expired;
    private long lastHeardNanos;
    private boolean heardAny;

    PrimaryLiveness(long leaseNanos) {
        this.leaseNanos = leaseNanos;
    }

    /** Something arrived from the primary's stream. */
    void heard() {
        lastHeardNanos = System.nanoTime();
        heardAny = true;
    }

    /** Grants the primary a lease from now, answering {@code heartbeat}. */
    LeaseGrant grant(Heartbeat heartbeat, long fencingEpoch) {
        leaseUntilNanos = System.nanoTime() + leaseNanos;
        granted = true;
        expired = false;
        return LeaseGrant.newBuilder()
                .setSequence(heartbeat.getSequence())
                .setFencingEpoch(fencingEpoch)
                .setValidMicros(TimeUnit.NANOSECONDS.toMicros(leaseNanos))
                .build();
    }

    /** How long the last grant still lets the primary act; 0 when it holds none. Notes a lease that just ran out. */
    long remainingNanos() {
        if (!granted) {
            return 0;
        }
        long left = leaseUntilNanos - System.nanoTime();
        if (left > 0) {
            return left;
        }
        granted = false;
        expired = true;
        return 0;
    }

    /**
     * True once after the lease was seen to run out: the caller tells the authority (outside the standby's lock),
     * so that whoever read 0 finds the lease free everywhere, not still held.
     */
    boolean takeExpiry() {
        remainingNanos();
        boolean was = expired;
        expired = false;
        return was;
    }

    /** The VM was promoted elsewhere: this primary holds nothing any more. */
    void revoke() {
        granted = false;
    }

    /** How long the primary has been silent, or -1 if it never spoke since this collector started. */
    long silentNanos() {
        return heardAny ? System.nanoTime() - lastHeardNanos : -1;
    }

    boolean heardAny() {
        return heardAny;
    }
}
