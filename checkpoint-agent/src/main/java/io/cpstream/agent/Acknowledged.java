package io.cpstream.agent;

/**
 * What an Ack or a Welcome newly told the agent: the collector committed {@code epoch}, so every output
 * below {@code outputEnd} is in a committed checkpoint and may be released. {@link ReplicationState}
 * learns it and answers with it; {@link OutputGate} moves its commit point by it, so the acknowledged
 * output end has one owner.
 *
 * @param epoch     the newest acknowledged epoch
 * @param stunNanos {@link System#nanoTime()} of that epoch's stun, for the lag; -1 when a Welcome confirmed it
 *                  (the time since was spent reconnecting, not streaming)
 * @param outputEnd the output end the epoch holds: index of the first output not in it
 */
record Acknowledged(long epoch, long stunNanos, long outputEnd) {

    /** Whether the stun time is known, so that now minus it is the lag of this acknowledgement. */
    boolean timed() {
        return stunNanos >= 0;
    }
}
