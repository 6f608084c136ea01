package io.cpstream.collector;

import io.cpstream.collector.store.EventJournal;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.proto.EventLogAck;
import io.cpstream.proto.EventLogChunk;
import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.replay.OutputDigest;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * Quasi-lockstep for one VM ({@code agent --protect lockstep}): a {@link SecondaryGuest} runs beside the standby
 * from its committed checkpoint and the journaled inputs, and every output it emits is compared with the digest the
 * primary sent of its own output of the same index. The agent releases an output only once it is below
 * {@link #comparedEnd}, so a divergence is found before the diverging output leaves.
 *
 * <p>On the first mismatch the secondary stops, and the primary's outputs from there on wait. At the next commit
 * of a checkpoint that holds the mismatched output, a new secondary is restored from it: the primary is the truth,
 * and outputs the checkpoint holds are safe to release (a promotion would emit the same), so the compared end jumps
 * to the checkpoint's output end and comparing goes on from there. A secondary that has not emitted what a checkpoint
 * committed {@link #BEHIND} ago holds is restarted the same way, so a slow collector holds outputs back by little
 * more than that.
 *
 * <p>A divergence need not show in an output at once: every {@code verifyEvery}, at a commit, a second guest is
 * restored from the checkpoint and replays the journal to where the running secondary waits; their memory digests
 * must be equal. A difference counts as a divergence and restarts the secondary at the next commit.
 *
 * <p>Threads: chunks come in on gRPC's threads under the event journal's lock ({@link #journaled}), commits under the
 * standby's lock ({@link #committed}), which only copies the checkpoint out of the store. A restore thread makes
 * guests of those copies (slow: hundreds of milliseconds for a large guest, so neither under the standby's lock,
 * where it would hold the next commit back, nor on the comparing thread, where it would hold outputs back). A thread
 * of its own drains and compares the secondary's outputs and answers the agent whenever the compared end moves. Once
 * installed, guests are closed by that thread only, so a digest taken outside this object's monitor never reads a
 * closed guest; locks are taken in the order journal, then this object.
 */
final class LockstepSecondary implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(LockstepSecondary.class.getName());
    private static final long PUMP_NANOS = TimeUnit.MICROSECONDS.toNanos(200);
    private static final long IDLE_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    private static final Duration VERIFY_TIMEOUT = Duration.ofSeconds(10);
    /**
     * A secondary that has not emitted the outputs of a checkpoint committed this long ago is restarted from the
     * newest one: long enough that a pause of the collector (a collection, a verification, a busy core) does not cost
     * a restore, short enough that a secondary which cannot keep up holds the primary's outputs back by little more.
     */
    static final Duration BEHIND = Duration.ofMillis(250);
    /** Digests (of either side) kept waiting for the other side's, at most: what a primary can make this hold. */
    static final int MAX_PENDING = 1 << 18;

    /** What {@code status} shows of it. */
    record View(String state, long comparedOutputEnd, long mismatches, long resyncs, long verifications,
                long divergences, long lastMismatchOutput) {
    }

    /** Inputs held back from the running secondary while it waits to be verified. */
    private record Held(long from, long end, byte[] events) {
    }

    /** A checkpoint to make a guest of: the secondary ({@code start}), or a verification's candidate. */
    private record Restore(SecondaryGuest.Captured checkpoint, boolean start, long capturedNanos) {
    }

    /** A verification under way: a guest restored from the checkpoint, replaying to where the secondary waits. */
    private static final class Verification {
        final SecondaryGuest candidate;
        final long at;
        final long deadline = System.nanoTime() + VERIFY_TIMEOUT.toNanos();
        final List<Held> held = new ArrayList<>();

        Verification(SecondaryGuest candidate, long at) {
            this.candidate = candidate;
            this.at = at;
        }
    }

    private final String vm;
    /** The standby's event journal: a new secondary reads it from its checkpoint on. */
    private final EventJournal events;
    private final Duration verifyEvery;
    private final CollectorMetrics metrics;
    private final Runnable onClose;
    private final Thread pump;

    // Guarded by this object's monitor.
    private SecondaryGuest running;
    /** Guests to close, by the pump thread. */
    private final List<SecondaryGuest> retired = new ArrayList<>();
    private boolean started;
    /** After a mismatch: the next secondary starts from a checkpoint holding this output. -1: any checkpoint. */
    private long restartPast = -1;
    private String unavailable;
    /** The primary's output digests, of indexes from {@link #expectedFrom}; outputs below it are not compared. */
    private final ArrayDeque<Long> expected = new ArrayDeque<>();
    private long expectedFrom = -1;
    /** The secondary's outputs waiting for the primary's digest: {index, digest}. */
    private final ArrayDeque<long[]> emitted = new ArrayDeque<>();
    private long comparedEnd;
    /** Recent commits, oldest first: {System.nanoTime() of the commit, its output end}, back to {@link #BEHIND}. */
    private final ArrayDeque<long[]> commits = new ArrayDeque<>();
    private Verification verifying;
    /** A checkpoint captured at a commit, waiting to be made a guest by the restore thread. */
    private Restore pending;
    /** Whether a restore thread runs (it takes {@link #pending} until there is none). */
    private boolean restoring;
    private long lastVerifyNanos = System.nanoTime();
    private long mismatches;
    private long resyncs;
    private long verifications;
    private long divergences;
    private long lastMismatchOutput = -1;
    private Consumer<EventLogAck> replyTo;
    private long repliedEnd = -1;
    private volatile boolean closed;

    /**
     * @param verifyEvery how often the secondary's memory is checked; null: never
     * @param onClose     gives back its slot of the collector's {@code lockstep-secondaries}
     */
    LockstepSecondary(String vm, EventJournal events, Duration verifyEvery, CollectorMetrics metrics,
                      Runnable onClose) {
        this.vm = vm;
        this.events = events;
        this.verifyEvery = verifyEvery;
        this.metrics = metrics;
        this.onClose = onClose;
        this.pump = Thread.ofPlatform().daemon().name("lockstep-" + vm).start(this::run);
    }

    /** A chunk was journaled (under the journal's lock): its digests and inputs; answers go to {@code replyTo}. */
    synchronized void journaled(EventLogChunk chunk, Consumer<EventLogAck> replyTo) {
        this.replyTo = replyTo;
        if (chunk.getOutputDigestsCount() > 0) {
            takeDigests(chunk.getOutputFrom(), chunk.getOutputDigestsList());
        }
        if (running == null) {
            return;
        }
        if (chunk.getRestart()) {
            stopRunning("the primary restarted its input log at port access " + chunk.getFrom());
            return;
        }
        if (chunk.getEvents().isEmpty() && chunk.getEnd() <= chunk.getFrom()) {
            return; // digests alone
        }
        byte[] events = chunk.getEvents().toByteArray();
        if (verifying != null) {
            verifying.held.add(new Held(chunk.getFrom(), chunk.getEnd(), events));
        } else if (!running.extend(chunk.getFrom(), chunk.getEnd(), events)) {
            stopRunning("the inputs from port access " + running.replayEnd() + " to " + chunk.getFrom() + " are missing");
        }
    }

    /**
     * A checkpoint was committed (under the standby's lock: the image holds it whole). Copies it for a new secondary
     * if there is none (first, after a mismatch once the checkpoint holds the mismatched output, or after falling
     * behind), or for a verification when one is due; the restore thread makes the guest.
     */
    void committed(ImageStore store) {
        long outputEnd = store.committed().outputs().end();
        boolean start;
        boolean verify;
        synchronized (this) {
            if (closed) {
                return;
            }
            long now = System.nanoTime();
            long behindEnd = -1; // output end of the newest commit at least BEHIND old
            while (!commits.isEmpty() && now - commits.peekFirst()[0] >= BEHIND.toNanos()) {
                behindEnd = commits.removeFirst()[1];
            }
            commits.addLast(new long[] {now, outputEnd});
            if (running != null && verifying == null && running.nextOutput() < behindEnd) {
                stopRunning("it fell behind its primary: at output " + running.nextOutput() + ", while a checkpoint "
                        + "committed " + BEHIND.toMillis() + " ms ago or more holds " + behindEnd);
            }
            // One restore at a time: a capture copies the whole image under the standby's lock, so never one per commit.
            start = running == null && outputEnd > restartPast && !restoring;
            verify = !start && running != null && verifying == null && !restoring && verifyEvery != null
                    && now - lastVerifyNanos >= verifyEvery.toNanos();
            if (verify) {
                lastVerifyNanos = now;
            }
        }
        if (!start && !verify) {
            return;
        }
        // Only the copy is made here, under the standby's lock; a thread of its own makes the guest from it, so that
        // neither the next commit nor the comparing waits for that.
        SecondaryGuest.Captured checkpoint = SecondaryGuest.capture(store);
        boolean spawn;
        synchronized (this) {
            if (pending != null) {
                pending.checkpoint().close(); // a newer checkpoint replaces one not restored yet
            }
            pending = new Restore(checkpoint, start, System.nanoTime());
            spawn = !restoring;
            restoring = true;
        }
        if (spawn) {
            Thread.ofPlatform().daemon().name("lockstep-restore-" + vm).start(this::restoreAll);
        }
    }

    /** Makes guests of the captured checkpoints until none waits (the restore thread). */
    private void restoreAll() {
        while (true) {
            Restore restore;
            synchronized (this) {
                restore = pending;
                pending = null;
                if (restore == null || closed) {
                    restoring = false;
                    if (restore != null) {
                        restore.checkpoint().close();
                    }
                    return;
                }
            }
            restore(restore);
            LockSupport.unpark(pump);
        }
    }

    /**
     * Makes the guest of a captured checkpoint and starts it from the journal: as the secondary, or as the candidate
     * of a verification. Under no lock but the journal's and this object's for the start. Until it is installed the
     * guest is this thread's alone, so it closes one it does not install itself.
     */
    private void restore(Restore restore) {
        SecondaryGuest fresh;
        try {
            fresh = SecondaryGuest.restore(restore.checkpoint());
        } catch (RuntimeException e) {
            synchronized (this) {
                unavailable = "cannot run the guest here: " + e.getMessage();
            }
            LOG.log(System.Logger.Level.WARNING, "vm {0}: no lockstep secondary: {1}", vm, e.getMessage());
            return;
        }
        boolean installed = false;
        synchronized (events) {
            synchronized (this) {
                try {
                    if (!closed) {
                        fresh.follow(events);
                        if (restore.start() && running == null) {
                            install(fresh, System.nanoTime() - restore.capturedNanos());
                            installed = true;
                        } else if (!restore.start() && running != null && verifying == null
                                && fresh.replayEnd() == running.replayEnd()) {
                            verifying = new Verification(fresh, running.replayEnd());
                            installed = true;
                        }
                    }
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "vm {0}: lockstep secondary not started: {1}", vm,
                            e.getMessage());
                }
            }
        }
        if (!installed) {
            fresh.close();
        }
    }

    /** Outputs below this may be released: matched, or held by the checkpoint the secondary (re)started from. */
    synchronized long comparedEnd() {
        return comparedEnd;
    }

    /** Why no secondary can run for this VM, or empty. */
    synchronized String unavailable() {
        return unavailable == null ? "" : unavailable;
    }

    synchronized View view() {
        String state;
        if (running != null) {
            state = verifying != null ? "verifying" : "running";
        } else if (unavailable != null) {
            state = "unavailable: " + unavailable;
        } else {
            state = "awaiting-checkpoint";
        }
        return new View(state, comparedEnd, mismatches, resyncs, verifications, divergences, lastMismatchOutput);
    }

    private void takeDigests(long from, List<Long> digests) {
        long end = expectedFrom + expected.size();
        if (expectedFrom < 0 || from > end) {
            // The first digests, or the primary dropped some it holds compared (by another collector): outputs
            // below `from` are not compared here.
            expected.clear();
            expectedFrom = from;
            end = from;
        }
        for (int i = (int) Math.min(digests.size(), end - from); i < digests.size(); i++) {
            expected.addLast(digests.get(i));
        }
        if (expected.size() > MAX_PENDING) {
            // The secondary is far behind, or stopped until a checkpoint holds its mismatch: it restarts from one that
            // holds every output these digests are of, and nothing below that is compared.
            long pastAll = expectedFrom + expected.size() - 1;
            expected.clear();
            expectedFrom = -1;
            restartPast = Math.max(restartPast, pastAll);
            stopRunning("more than " + MAX_PENDING + " of the primary's outputs wait to be compared");
        }
    }

    private void install(SecondaryGuest fresh, long restoreNanos) {
        long outputEnd = fresh.nextOutput();
        running = fresh;
        if (started) {
            resyncs++;
            metrics.lockstepResyncs.increment();
            LOG.log(System.Logger.Level.INFO, "vm {0}: lockstep secondary resynchronized from the checkpoint at port "
                    + "access {1}, output {2} ({3} ms after its commit)", vm, fresh.checkpointAt(), outputEnd,
                    TimeUnit.NANOSECONDS.toMillis(restoreNanos));
        }
        started = true;
        commits.clear(); // it starts from a checkpoint made a while ago: behind is counted from here
        restartPast = -1;
        unavailable = null;
        emitted.clear();
        comparedEnd = Math.max(comparedEnd, outputEnd);
    }

    /** Stops the running secondary (and a verification); the next commit starts another. */
    private void stopRunning(String why) {
        if (running == null) {
            return;
        }
        LOG.log(System.Logger.Level.WARNING, "vm {0}: lockstep secondary stopped, restarting from the next "
                + "checkpoint: {1}", vm, why);
        retired.add(running);
        running = null;
        emitted.clear();
        abandonVerification(false);
    }

    private void abandonVerification(boolean feedHeld) {
        if (verifying == null) {
            return;
        }
        retired.add(verifying.candidate);
        List<Held> held = verifying.held;
        verifying = null;
        if (feedHeld && running != null) {
            for (Held chunk : held) {
                if (!running.extend(chunk.from(), chunk.end(), chunk.events())) {
                    stopRunning("the inputs from port access " + running.replayEnd() + " to " + chunk.from()
                            + " are missing");
                    return;
                }
            }
        }
    }

    private void mismatch(long index, String what) {
        mismatches++;
        metrics.lockstepMismatches.increment();
        lastMismatchOutput = index;
        restartPast = index;
        stopRunning(what);
    }

    private void run() {
        while (!closed) {
            boolean busy;
            try {
                closeRetired();
                busy = pumpOnce();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "vm " + vm + ": lockstep secondary failed", e);
                synchronized (this) {
                    stopRunning("it failed: " + e.getMessage());
                }
                busy = false;
            }
            reply();
            if (!busy) {
                // Between commits with no secondary there is nothing to drain: a commit's restore unparks this thread.
                LockSupport.parkNanos(idle() ? IDLE_NANOS : PUMP_NANOS);
            }
        }
        synchronized (this) {
            stopRunning("the standby closed");
        }
        closeRetired();
        onClose.run();
    }

    private synchronized boolean idle() {
        return running == null && retired.isEmpty();
    }

    private void closeRetired() {
        List<SecondaryGuest> closing;
        synchronized (this) {
            closing = new ArrayList<>(retired);
            retired.clear();
        }
        closing.forEach(SecondaryGuest::close);
    }

    /** Drains and compares the secondary's outputs, and carries a verification on. Returns whether it did anything. */
    private boolean pumpOnce() {
        Verification check;
        SecondaryGuest guest;
        synchronized (this) {
            if (running == null) {
                return false;
            }
            List<GuestOutput> outputs = running.outputs();
            for (GuestOutput output : outputs) {
                emitted.addLast(new long[] {output.index(), OutputDigest.of(output.payload())});
            }
            if (emitted.size() > MAX_PENDING) {
                stopRunning("the primary sent no digests for " + emitted.size() + " of its outputs");
                return true;
            }
            Optional<String> fault = running.fault();
            compare();
            if (running != null && fault.isPresent()) {
                mismatch(running.nextOutput(), "its replay stopped: " + fault.get());
                restartPast = -1; // the log does not fit the guest: any later checkpoint is past where it failed
            }
            if (running == null || verifying == null) {
                return !outputs.isEmpty();
            }
            verifying.candidate.outputs(); // drained: the running secondary's are the ones compared
            if (verifying.candidate.fault().isPresent() || System.nanoTime() > verifying.deadline) {
                LOG.log(System.Logger.Level.WARNING, "vm {0}: lockstep verification abandoned: {1}", vm,
                        verifying.candidate.fault().orElse("the replay did not reach the secondary in time"));
                abandonVerification(true);
                commits.clear();
                return true;
            }
            if (!running.waitingAt(verifying.at) || !verifying.candidate.waitingAt(verifying.at)) {
                return !outputs.isEmpty();
            }
            check = verifying;
            guest = running;
        }
        // Both wait inside the same port access and nothing extends them (chunks are held), so their memory stays put
        // while it is hashed outside the monitor; only this thread closes guests.
        boolean equal = Arrays.equals(guest.memorySha256(), check.candidate.memorySha256());
        synchronized (this) {
            if (verifying != check) {
                return true;
            }
            commits.clear(); // the secondary waited for the check: it is not behind for that
            if (equal) {
                verifications++;
                metrics.lockstepVerifications.increment();
                abandonVerification(true);
            } else {
                divergences++;
                metrics.lockstepDivergences.increment();
                restartPast = -1;
                stopRunning("its memory at port access " + check.at + " differs from the checkpoint's replay to there");
            }
        }
        return true;
    }

    private void compare() {
        while (!emitted.isEmpty() && expectedFrom >= 0) {
            long[] output = emitted.peekFirst();
            long index = output[0];
            if (index < expectedFrom) {
                emitted.removeFirst(); // compared before this collector had digests, the primary says
                comparedEnd = Math.max(comparedEnd, index + 1);
                continue;
            }
            while (expectedFrom < index && !expected.isEmpty()) {
                expected.removeFirst(); // outputs a checkpoint the secondary restarted from holds
                expectedFrom++;
            }
            if (expectedFrom < index || expected.isEmpty()) {
                return; // the primary's digest has not come yet
            }
            long primary = expected.removeFirst();
            expectedFrom++;
            emitted.removeFirst();
            if (primary != output[1]) {
                mismatch(index, "its output " + index + " differs from the primary's");
                return;
            }
            comparedEnd = Math.max(comparedEnd, index + 1);
        }
    }

    /** Tells the agent, when the compared end moved. */
    private void reply() {
        Consumer<EventLogAck> to;
        long end;
        synchronized (this) {
            if (replyTo == null || comparedEnd == repliedEnd) {
                return;
            }
            to = replyTo;
            end = comparedEnd;
            repliedEnd = end;
        }
        to.accept(EventLogAck.newBuilder().setComparedOutputEnd(end).build());
    }

    /**
     * Stops it: its thread closes the guests and gives the slot back as it ends. Never waits for that thread, which
     * may itself wait for the event journal's lock that a caller of this can hold.
     */
    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(pump);
    }
}
