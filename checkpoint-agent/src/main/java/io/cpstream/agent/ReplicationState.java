package io.cpstream.agent;

import java.util.BitSet;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the agent knows about the collector's standby, and what it must send so that every checkpoint
 * completes an image: the bridge between the epoch loop (which plans checkpoints at each stun) and
 * the stream (which learns of acks, resyncs and reconnections).
 *
 * <p>The key rule: a checkpoint relative to base B must carry every page written since B's stun. In
 * steady state that is the dirty set of one epoch. After a reconnection or a dropped checkpoint, it is
 * the union of the pages of every unacknowledged epoch after B, which is why those sets are kept
 * until acknowledged; when they are not enough (unknown or foreign standby), the next checkpoint is full.
 */
final class ReplicationState {

    /** Pages each unacknowledged epoch carried, and whether it was full. */
    private record Sent(BitSet pages, boolean full, long stunNanos, long outputEnd) {
    }

    private final int pageCount;
    private final String lineage;
    private final TreeMap<Long, Sent> unacked = new TreeMap<>();
    private long lastPlanned;
    private long lastPlannedOutputEnd;
    private long acked;
    private long generation;
    private boolean connected;
    /** The stream checkpoints of the current generation go to; null while disconnected. */
    private CollectorStream stream;
    /** Set when the next checkpoint must restart from what the collector holds. */
    private Restart restart;

    private record Restart(long base, boolean full, BitSet extraPages, long baseOutputEnd) {
    }

    ReplicationState(int pageCount, String lineage) {
        this.pageCount = pageCount;
        this.lineage = lineage;
    }

    String lineage() {
        return lineage;
    }

    synchronized long acked() {
        return acked;
    }

    synchronized boolean connected() {
        return connected;
    }

    synchronized int inFlight() {
        return unacked.size();
    }

    /**
     * A stream reached the collector, whose standby is at {@code committed} of guest {@code standbyLineage}
     * and holds the outputs below {@code committedOutputEnd}. Returns what this confirms that no Ack did
     * (the standby is ours and past the acknowledged epoch), or null.
     */
    synchronized Acknowledged onWelcome(CollectorStream welcomed, long committed, boolean fullSyncRequired,
                                        String standbyLineage, long committedOutputEnd) {
        generation++;
        connected = true;
        stream = welcomed;
        boolean ours = lineage.equals(standbyLineage) && committed > 0 && committed <= lastPlanned;
        boolean bridgeable = ours && !fullSyncRequired && committed >= acked;
        lastPlanned = Math.max(lastPlanned, committed);
        restart = new Restart(committed, !bridgeable, new BitSet(), committedOutputEnd);
        notifyAll();
        if (ours && committed > acked) {
            acked = committed;
            unacked.headMap(committed, true).clear();
            return new Acknowledged(committed, -1, committedOutputEnd);
        }
        return null;
    }

    /** The collector dropped a checkpoint: restart from its committed epoch, resending {@code pages} whole. */
    synchronized void onResync(long committed, Iterable<Long> pages, boolean full, long committedOutputEnd) {
        generation++;
        BitSet extra = restart == null ? new BitSet() : restart.extraPages();
        for (long page : pages) {
            if (page >= 0 && page < pageCount) {
                extra.set((int) page);
            }
        }
        boolean bridgeable = !full && committed >= acked && committed <= lastPlanned;
        restart = new Restart(committed, !bridgeable || (restart != null && restart.full()), extra, committedOutputEnd);
        notifyAll();
    }

    /**
     * The collector committed {@code epoch}. Returns the epoch with its stun time and output end, or null if it
     * was acknowledged already or is not one this agent has pending.
     */
    synchronized Acknowledged onAck(long epoch) {
        if (epoch <= acked) {
            return null;
        }
        Sent sent = unacked.get(epoch);
        acked = epoch;
        unacked.headMap(epoch, true).clear();
        notifyAll();
        return sent == null ? null : new Acknowledged(epoch, sent.stunNanos(), sent.outputEnd());
    }

    synchronized void onDisconnect() {
        connected = false;
        stream = null;
        generation++;
        notifyAll();
    }

    /** The stream to send a checkpoint of {@code planGeneration} on, or null if it is stale. */
    synchronized CollectorStream streamFor(long planGeneration) {
        return planGeneration == generation ? stream : null;
    }

    /**
     * Waits until a checkpoint may be taken: connected, and fewer than {@code maxInFlight}
     * unacknowledged, or a restart pending (its checkpoint supersedes every unacknowledged one).
     */
    synchronized boolean awaitCapacity(int maxInFlight, long timeoutMillis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (!connected || (unacked.size() >= maxInFlight && restart == null)) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return false;
            }
            wait(left);
        }
        return true;
    }

    /** Plans the checkpoint of the stun that harvested {@code dirty}. Call while the guest is stunned. */
    synchronized CheckpointPlan plan(BitSet dirty, long stunNanos, long outputEnd) {
        long epoch = lastPlanned + 1;
        long base;
        long outputStart;
        boolean full = false;
        BitSet pages = (BitSet) dirty.clone();
        if (restart != null) {
            base = restart.base();
            // A full checkpoint starts the collector's outputs over at whatever this agent still holds.
            outputStart = restart.full() ? 0 : restart.baseOutputEnd();
            if (restart.full()) {
                full = true;
                pages.set(0, pageCount);
            } else {
                for (Map.Entry<Long, Sent> entry : unacked.tailMap(base, false).entrySet()) {
                    pages.or(entry.getValue().pages());
                }
                pages.or(restart.extraPages());
            }
            // This checkpoint covers every page of the epochs it supersedes; they will never commit.
            unacked.tailMap(base, false).clear();
            restart = null;
        } else {
            base = lastPlanned;
            outputStart = lastPlannedOutputEnd;
        }
        lastPlanned = epoch;
        lastPlannedOutputEnd = outputEnd;
        unacked.put(epoch, new Sent(pages, full, stunNanos, outputEnd));
        return new CheckpointPlan(epoch, base, full, pages, generation, outputStart, outputEnd);
    }
}
