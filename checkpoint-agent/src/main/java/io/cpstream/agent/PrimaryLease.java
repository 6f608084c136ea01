package io.cpstream.agent;

/**
 * The agent's right to act as the primary: to release output. Renewed by each grant the collector
 * sends back for a heartbeat, and timed from when that heartbeat was sent, so the lease never
 * outlasts what the collector believes (the collector times it from receipt, later). Revoked at once
 * when the stream breaks: an agent that cannot renew stops releasing immediately.
 */
final class PrimaryLease {

    private static final int TRACKED_HEARTBEATS = 256;

    private final long[] sentNanos = new long[TRACKED_HEARTBEATS];
    private final long[] sentSequence = new long[TRACKED_HEARTBEATS];
    private long nextSequence = 1;
    private long validUntilNanos;
    private boolean held;

    /** Numbers the next heartbeat and remembers when it left. */
    synchronized long heartbeatSent() {
        long sequence = nextSequence++;
        int slot = (int) (sequence % TRACKED_HEARTBEATS);
        sentSequence[slot] = sequence;
        sentNanos[slot] = System.nanoTime();
        return sequence;
    }

    /** The collector granted the lease for {@code validMicros} from the send of heartbeat {@code sequence}. */
    synchronized void granted(long sequence, long validMicros) {
        int slot = (int) (sequence % TRACKED_HEARTBEATS);
        if (sentSequence[slot] != sequence) {
            return; // too old to time safely
        }
        long until = sentNanos[slot] + validMicros * 1000;
        if (!held || until > validUntilNanos) {
            validUntilNanos = until;
        }
        held = true;
    }

    synchronized void revoke() {
        held = false;
    }

    synchronized boolean holds() {
        return held && System.nanoTime() < validUntilNanos;
    }
}
