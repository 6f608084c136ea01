package io.cpstream.agent;

import io.cpstream.agent.output.OutputSink;
import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.replay.OutputDigest;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongFunction;

/**
 * Output commit: holds what the guest emitted until the checkpoint that contains its cause is
 * acknowledged, then releases it to the sink, and only while the agent holds its lease.
 *
 * <p>Records are numbered by their index in the VM's output stream. The epoch loop hands in the outputs
 * taken at each stun ({@link #capture}); checkpoints carry the records they cover to the collector, so
 * a promoted standby holds whatever this agent had not released yet; acknowledgements move the commit
 * point ({@link #committed}); a releaser thread drains to the sink. When more than the bound is held,
 * the epoch loop stops taking outputs, so they wait in the guest and the guest slows down instead of
 * the agent growing without limit.
 */
final class OutputGate {

    private static final System.Logger LOG = System.getLogger(OutputGate.class.getName());
    private static final int MAX_RECORDS_PER_WRITE = 4096;
    /** Going on alone, nothing stuns the guest: the releaser takes its output this often. */
    private static final long ALONE_POLL_MILLIS = 2;

    private final String vm;
    /** The fencing epoch this primary presents to the sink; raised when it goes on alone. */
    private volatile long fencingEpoch;
    private final OutputSink sink;
    private final PrimaryLease lease;
    /** Takes the guest's output, up to a number of payload bytes ({@code MemorySource.pollOutputs}). */
    private final LongFunction<List<GuestOutput>> guest;
    private final long maxPendingBytes;
    private final ArrayDeque<byte[]> held = new ArrayDeque<>();
    /** Index of the first held record; everything below was released (or was never ours to release). */
    private long heldStart = -1;
    /** The sink holds every record below this (it said so when opened); -1: not known. Guarded by this. */
    private long sinkHolds = -1;
    private long emittedEnd = -1;
    private long heldBytes;
    private long committedEnd;
    private long released;
    private boolean stopped;
    /**
     * Going on alone: the standby was lost and the authority fenced it, so outputs are released as they are
     * captured, without an acknowledgement or a lease, until a standby protects this primary again.
     */
    private boolean alone;
    /** Going on alone, with a standby that holds this primary's whole state again: see {@link #standbyReady}. */
    private boolean standbyReady;
    /**
     * Outputs below this were released while going on alone, held by no standby: this primary is protected again
     * only once a standby acknowledged an epoch holding all of them ({@link #acknowledgedEnd} reaches it).
     */
    private long unprotectedEnd;
    /** The output end of the newest acknowledged checkpoint. */
    private long acknowledgedEnd;
    /**
     * Quasi-lockstep: outputs below this were matched by the collector's secondary (or resynced past); none at or
     * above it is released, whatever else acknowledged it. {@link Long#MAX_VALUE} without lockstep.
     */
    private long comparedEnd = Long.MAX_VALUE;
    private boolean lockstep;
    /** Lockstep: the digests of captured outputs not taken yet, those of indexes from {@link #digestsFrom}. */
    private final ArrayList<Long> digests = new ArrayList<>();
    private long digestsFrom = -1;
    private volatile IOException fenced;

    /**
     * The records a checkpoint carries, indexes {@code [start, start + records.size())}, and the release end at the
     * same moment. Read together: under record/replay protection outputs leave before their checkpoint commits, so a
     * release end read apart from the slice could be older than where the slice starts, and the collector would see
     * records missing between what the primary released and what the checkpoint holds.
     */
    record Slice(long start, List<byte[]> records, long releasedEnd) {
    }

    OutputGate(String vm, long fencingEpoch, OutputSink sink, PrimaryLease lease, long maxPendingBytes,
               LongFunction<List<GuestOutput>> guest) {
        this.vm = vm;
        this.guest = guest;
        this.fencingEpoch = fencingEpoch;
        this.sink = sink;
        this.lease = lease;
        this.maxPendingBytes = maxPendingBytes;
    }

    /**
     * Takes the outputs of one stun from the guest, as many as fit under the bound; the rest stay in the guest and
     * belong to a later stun. Returns the output end of that stun (how many records the guest had emitted before
     * it). The first output ever seen fixes where this guest's
     * stream starts (a restored guest continues its predecessor's numbering). One call, one lock: it runs
     * inside the stun.
     */
    synchronized long capture() {
        if (heldBytes >= maxPendingBytes) {
            return Math.max(emittedEnd, 0);
        }
        for (GuestOutput output : guest.apply(maxPendingBytes - heldBytes)) {
            if (emittedEnd < 0) {
                emittedEnd = output.index();
                heldStart = output.index();
                committedEnd = Math.max(committedEnd, output.index());
            }
            if (output.index() != emittedEnd) {
                throw new IllegalStateException("the guest's output " + output.index() + " follows output "
                        + (emittedEnd - 1) + ": the output channel lost or repeated records");
            }
            byte[] payload = output.payload();
            if (lockstep) {
                if (digestsFrom < 0) {
                    digestsFrom = output.index();
                }
                digests.add(OutputDigest.of(payload));
            }
            held.addLast(payload);
            heldBytes += payload.length;
            emittedEnd++;
        }
        if (alone) {
            committedEnd = Math.max(committedEnd, emittedEnd);
            notifyAll();
        }
        return Math.max(emittedEnd, 0);
    }

    /**
     * Starts a restored guest's stream: {@code records} (indexes from {@code start}) are outputs its
     * checkpoint holds that the old primary may not have released. They are committed already.
     */
    synchronized void seed(long start, List<byte[]> records) {
        if (emittedEnd >= 0) {
            throw new IllegalStateException("outputs were already captured");
        }
        heldStart = start;
        for (byte[] record : records) {
            held.addLast(record.clone());
            heldBytes += record.length;
        }
        emittedEnd = start + records.size();
        committedEnd = emittedEnd;
        notifyAll();
    }

    /** The held records with index in {@code [from, to)}; {@code from} below what is held starts at the held start. */
    synchronized Slice slice(long from, long to) {
        long start = Math.max(from, Math.max(heldStart, 0));
        List<byte[]> records = new ArrayList<>();
        if (heldStart >= 0) {
            long index = heldStart;
            for (byte[] record : held) {
                if (index >= to) {
                    break;
                }
                if (index >= start) {
                    records.add(record);
                }
                index++;
            }
        }
        return new Slice(Math.min(start, to), records, releasedEnd());
    }

    /** The collector acknowledged a checkpoint: every output below its output end may be released. */
    synchronized void committed(Acknowledged acknowledged) {
        acknowledgedEnd = Math.max(acknowledgedEnd, acknowledged.outputEnd());
        releaseUpTo(Math.min(acknowledgedEnd, comparedEnd));
    }

    /**
     * Record/replay protection: the collector journaled every input before output {@code outputEnd}, so the outputs
     * below it may be released (a promoted standby replays to there and emits them again, with the same indexes).
     */
    synchronized void logAcknowledged(long outputEnd) {
        acknowledgedEnd = Math.max(acknowledgedEnd, outputEnd);
        releaseUpTo(Math.min(acknowledgedEnd, comparedEnd));
    }

    /**
     * Quasi-lockstep from now on: every output captured is digested ({@link #takeDigests}), and none is released
     * before the collector's secondary matched it ({@link #compared}). Call before the guest runs.
     */
    synchronized void lockstep() {
        lockstep = true;
        comparedEnd = 0;
    }

    /**
     * Lockstep: the collector's secondary matched the outputs below {@code end}, or resynchronized past them from a
     * checkpoint that holds them; {@code available} false: the collector runs no secondary, and outputs go as under
     * record/replay protection until one that does answers.
     */
    synchronized void compared(long end, boolean available) {
        if (!lockstep) {
            return;
        }
        if (!available) {
            comparedEnd = Long.MAX_VALUE;
        } else if (comparedEnd == Long.MAX_VALUE) {
            comparedEnd = end; // a secondary again, after one that ran none: it bounds the outputs captured from now
        } else {
            comparedEnd = Math.max(comparedEnd, end);
        }
        releaseUpTo(Math.min(acknowledgedEnd, comparedEnd));
    }

    /** Lockstep: the outputs below this were matched; {@link Long#MAX_VALUE} when nothing is compared. */
    synchronized long comparedEnd() {
        return comparedEnd;
    }

    /** The digests of outputs captured since the last call: of indexes {@code [from, from + digests.length)}. */
    record Digests(long from, long[] digests) {
    }

    /** Takes the digests of the outputs captured since the last call (lockstep). */
    synchronized Digests takeDigests() {
        long[] taken = new long[digests.size()];
        for (int i = 0; i < taken.length; i++) {
            taken[i] = digests.get(i);
        }
        Digests out = new Digests(Math.max(digestsFrom, 0), taken);
        if (digestsFrom >= 0) {
            digestsFrom += taken.length;
        }
        digests.clear();
        return out;
    }

    private void releaseUpTo(long end) {
        if (end > committedEnd) {
            committedEnd = end;
            notifyAll();
        }
    }

    /** The lease changed; the releaser re-checks. */
    synchronized void leaseChanged() {
        notifyAll();
    }

    /** Index of the next record to release: everything below left the agent. */
    synchronized long releasedEnd() {
        return Math.max(heldStart, 0);
    }

    synchronized long pendingBytes() {
        return heldBytes;
    }

    synchronized long releasedRecords() {
        return released;
    }

    /**
     * The standby is gone and this primary goes on alone, at {@code epoch} (raised by the authority, or the same
     * one without an authority): every output held and captured from now on is released at once.
     */
    synchronized void goAlone(long epoch) {
        alone = true;
        standbyReady = false;
        fencingEpoch = epoch;
        committedEnd = Math.max(committedEnd, emittedEnd);
        notifyAll();
    }

    /**
     * A new standby acknowledged a checkpoint, so it holds this primary's whole state: the next stun with nothing
     * else in flight, once that standby granted a lease, ends going on alone ({@link #rejoinIfReady}). Not at once: outputs captured from the switch on wait for the
     * acknowledgement of the first checkpoint taken after it, and with checkpoints already queued behind the full
     * sync that wait is all of them, a stop of the guest's output several checkpoints long. Switched at a stun with
     * an empty pipeline, the stop is one checkpoint's lag, the least any switch back to waiting can cost.
     */
    synchronized void standbyReady() {
        if (alone) {
            standbyReady = true;
        }
    }

    /** The stream that made a standby ready ended: a later standby must hold the state again first. */
    synchronized void standbyGone() {
        standbyReady = false;
    }

    /** Whether the epoch loop should let the pipeline drain, so that its next stun can end going on alone. */
    synchronized boolean rejoining() {
        return alone && standbyReady;
    }

    /**
     * Called inside a stun with no checkpoint in flight: a ready standby holds this primary's state again, so outputs
     * captured from this stun on wait for its acknowledgements and lease once more. Those released alone are in no
     * acknowledged checkpoint yet, so the primary counts as protected ({@link #protectedByStandby}) only once an
     * acknowledgement covers them: this stun's checkpoint, when it is acknowledged.
     */
    synchronized void rejoinIfReady() {
        if (rejoining() && lease.holds()) {
            alone = false;
            standbyReady = false;
            unprotectedEnd = committedEnd;
        }
    }

    /**
     * Whether a failover now would lose no released output: not going on alone, and every output released alone
     * is in an acknowledged checkpoint.
     */
    synchronized boolean protectedByStandby() {
        return !alone && acknowledgedEnd >= unprotectedEnd;
    }

    synchronized boolean alone() {
        return alone;
    }

    long fencingEpoch() {
        return fencingEpoch;
    }

    /**
     * Set when the sink refuses this agent for good: a primary of a higher fencing epoch took over the sink
     * ({@link OutputSink.FencedException}), or the sink denies this agent's certificate
     * ({@link OutputSink.DeniedException}). This agent must stop.
     */
    IOException fenced() {
        return fenced;
    }

    synchronized void stop() {
        stopped = true;
        notifyAll();
    }

    /** The releaser: runs until {@link #stop()} or until fenced. */
    void releaseLoop() {
        long backoff = 50;
        long openedAt = -1; // the fencing epoch the sink was opened with; -1: not open
        long presented = -1; // the fencing epoch of the request under way
        boolean open = false;
        while (true) {
            try {
                synchronized (this) {
                    if (stopped) {
                        return;
                    }
                }
                presented = fencingEpoch;
                if (!open || openedAt != presented) {
                    adoptSinkPosition(sink.open(vm, presented));
                    open = true;
                    openedAt = presented;
                }
                List<byte[]> batch;
                long first;
                synchronized (this) {
                    while (!stopped && !(hasReleasable() && mayRelease())) {
                        if (alone) {
                            // Without a standby nothing stuns the guest: its output is taken here, as it comes.
                            capture();
                            if (hasReleasable()) {
                                break;
                            }
                            wait(ALONE_POLL_MILLIS);
                        } else {
                            // A grant or an ack wakes us; the lease also runs out on its own, so look again soon.
                            wait(lease.holds() ? 0 : 20);
                        }
                    }
                    if (stopped) {
                        return;
                    }
                    first = heldStart;
                    int count = (int) Math.min(MAX_RECORDS_PER_WRITE, committedEnd - heldStart);
                    batch = new ArrayList<>(count);
                    for (byte[] record : held) {
                        if (batch.size() == count) {
                            break;
                        }
                        batch.add(record);
                    }
                }
                if (!mayRelease() || fencingEpoch != openedAt) {
                    continue;
                }
                sink.write(first, batch);
                synchronized (this) {
                    drop(batch.size());
                    released += batch.size();
                }
                backoff = 50;
            } catch (OutputSink.FencedException e) {
                if (fencingEpoch > presented) {
                    // This primary itself raised the epoch (going on alone) while the request at the old one was
                    // under way: the authority refused the epoch it had just left behind, not this primary.
                    open = false;
                    continue;
                }
                LOG.log(System.Logger.Level.ERROR, "vm {0}: output sink refuses this primary: {1}", vm, e.getMessage());
                fenced = e;
                return;
            } catch (OutputSink.DeniedException e) {
                // Not a passing failure: the sink will deny every retry the same way, and output would be held forever.
                LOG.log(System.Logger.Level.ERROR, "vm {0}: {1}", vm, e.getMessage());
                fenced = e;
                return;
            } catch (OutputSink.OutputGapException e) {
                open = false; // re-read where the sink stands
                LOG.log(System.Logger.Level.WARNING, "vm {0}: {1}", vm, e.getMessage());
                if (!sleep(backoff)) {
                    return;
                }
            } catch (IOException e) {
                open = false;
                LOG.log(System.Logger.Level.WARNING, "vm {0}: releasing output to {1} failed ({2}); retrying in {3} ms",
                        vm, sink, e.getMessage(), backoff);
                if (!sleep(backoff)) {
                    return;
                }
                backoff = Math.min(backoff * 2, 2000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /**
     * The sink already holds records up to {@code next} (released by this agent before a reconnect,
     * or by a predecessor): never release them again, including those this primary takes only later (a promoted VM
     * replaying its log passes again through outputs its predecessor released).
     */
    private synchronized void adoptSinkPosition(long next) {
        if (next == OutputSink.NO_HISTORY) {
            return;
        }
        if (heldStart >= 0 && next < heldStart) {
            LOG.log(System.Logger.Level.ERROR, "vm {0}: the sink holds output up to {1} but this primary "
                    + "starts at {2}: records in between were never released", vm, next, heldStart);
        }
        sinkHolds = next;
        skipWhatTheSinkHolds();
    }

    /** Whether committed records wait to be released (past those the sink already holds). */
    private boolean hasReleasable() {
        skipWhatTheSinkHolds();
        return committedEnd > heldStart && heldStart >= 0;
    }

    /** Drops the committed records the sink said it holds. */
    private void skipWhatTheSinkHolds() {
        if (heldStart < 0 || sinkHolds <= heldStart) {
            return;
        }
        long skip = Math.min(sinkHolds - heldStart, Math.min(held.size(), committedEnd - heldStart));
        if (skip > 0) {
            drop((int) skip);
        }
    }

    /** Whether this primary may release now: it holds a lease, or it goes on alone. */
    private synchronized boolean mayRelease() {
        return alone || lease.holds();
    }

    private void drop(int count) {
        for (int i = 0; i < count; i++) {
            heldBytes -= held.removeFirst().length;
        }
        heldStart += count;
    }

    private static boolean sleep(long millis) {
        try {
            Thread.sleep(millis);
            return true;
        } catch (InterruptedException e) {
            return false;
        }
    }
}
