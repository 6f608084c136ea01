package io.cpstream.collector;

import com.google.protobuf.ByteString;
import io.cpstream.proto.Heartbeat;
import io.cpstream.proto.LeaseGrant;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.concurrent.TimeUnit;

/**
 * Whether the primary of a VM is alive as far as this collector can tell: the lease its heartbeats earn, and how
 * long it has been silent. The primary times a grant from its heartbeat's send, which is earlier than our
 * receipt, so our view of the lease always outlasts its own.
 *
 * <p>Heartbeats arrive on a call of their own ({@code Replication.Lease}) and must never wait for the standby's
 * lock, which a commit holds while it applies and verifies a checkpoint: so this has a lock of its own, and holds
 * what a grant depends on itself. While a stream is attached, its {@link Terms} (a fresh random token, handed to
 * the agent in the Welcome, and the fencing epoch) say who may renew; a promotion {@link #suspend suspends}
 * grants before it reads how long the last one runs, so no grant can slip in between.
 */
final class PrimaryLiveness {

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int TOKEN_BYTES = 16;

    /** Who may renew the lease: the holder of {@code token} (agent {@code holder}), at {@code fencingEpoch}. */
    record Terms(ByteString token, long fencingEpoch, String holder) {
    }

    private final long leaseNanos;
    /** Null while no stream is attached, or a promotion or a fence stopped grants. */
    private Terms terms;
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

    /** A stream attached at {@code fencingEpoch}: only the token returned may renew the lease from now on. */
    synchronized Terms open(long fencingEpoch, String holder) {
        byte[] token = new byte[TOKEN_BYTES];
        RANDOM.nextBytes(token);
        terms = new Terms(ByteString.copyFrom(token), fencingEpoch, holder);
        return terms;
    }

    /** The stream detached or was fenced: no grants until another attaches. The last grant runs out by itself. */
    synchronized void close() {
        terms = null;
    }

    /** Stops grants for a promotion and returns the terms to {@link #resume} should the promotion be refused. */
    synchronized Terms suspend() {
        Terms was = terms;
        terms = null;
        return was;
    }

    /** A refused promotion gives the terms back, unless a stream attached or detached meanwhile. */
    synchronized void resume(Terms suspended) {
        if (terms == null && suspended != null) {
            terms = suspended;
        }
    }

    /**
     * The terms now in force if {@code token} is theirs (compared in constant time), else null: what a heartbeat or an
     * event log chunk presenting it may act under.
     */
    synchronized Terms presentedBy(ByteString token) {
        return terms != null && MessageDigest.isEqual(terms.token().toByteArray(), token.toByteArray()) ? terms : null;
    }

    /** Something arrived from the primary. */
    synchronized void heard() {
        lastHeardNanos = System.nanoTime();
        heardAny = true;
    }

    /**
     * Grants the primary a lease from now, answering {@code heartbeat}, if {@code checked} (the terms the caller
     * found the heartbeat to match, and had the authority confirm) still hold; otherwise null.
     */
    synchronized LeaseGrant grant(Heartbeat heartbeat, Terms checked) {
        if (terms == null || terms != checked) {
            return null;
        }
        lastHeardNanos = System.nanoTime();
        heardAny = true;
        leaseUntilNanos = System.nanoTime() + leaseNanos;
        granted = true;
        expired = false;
        return LeaseGrant.newBuilder()
                .setSequence(heartbeat.getSequence())
                .setFencingEpoch(checked.fencingEpoch())
                .setValidMicros(TimeUnit.NANOSECONDS.toMicros(leaseNanos))
                .build();
    }

    /** How long the last grant still lets the primary act; 0 when it holds none. Notes a lease that just ran out. */
    synchronized long remainingNanos() {
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
     * True once after the lease was seen to run out: the caller tells the authority, so that whoever read 0 finds
     * the lease free everywhere, not still held.
     */
    synchronized boolean takeExpiry() {
        remainingNanos();
        boolean was = expired;
        expired = false;
        return was;
    }

    /** The VM was promoted elsewhere: this primary holds nothing any more, and earns nothing more here. */
    synchronized void revoke() {
        granted = false;
        terms = null;
    }

    /** How long the primary has been silent, or -1 if it never spoke since this collector started. */
    synchronized long silentNanos() {
        return heardAny ? System.nanoTime() - lastHeardNanos : -1;
    }

    synchronized boolean heardAny() {
        return heardAny;
    }
}
