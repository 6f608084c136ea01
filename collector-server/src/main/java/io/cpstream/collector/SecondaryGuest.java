package io.cpstream.collector;

import io.cpstream.collector.store.EventJournal;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.collector.store.StandbyManifest;
import io.cpstream.snapshot.SnapshotReplay;
import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.RecordReplay;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.replay.EventLog;
import io.cpstream.tracker.replay.InputEvents;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

/**
 * One emulated guest a collector runs beside a standby for quasi-lockstep: restored from the committed checkpoint,
 * fed the primary's journaled inputs as they come, and waiting inside the port access the journal ends at whenever
 * it caught up. Deterministic like every replay: it emits what the primary emitted, unless the primary saw something
 * the log does not hold.
 *
 * <p>Built in three steps: {@link #capture} copies the committed checkpoint under the standby's lock (the image must
 * not change meanwhile); {@link #restore} makes the guest from the copy, under no lock; {@link #follow} reads the
 * journal from the checkpoint's port access on and starts the guest under the event journal's lock (no chunk may be
 * journaled in between, or it would be lost to this guest).
 */
final class SecondaryGuest implements AutoCloseable {

    private final MemorySource guest;
    private final RecordReplay rr;
    private final long checkpointAt;
    private long replayEnd;
    private long nextOutput;

    private SecondaryGuest(MemorySource guest, RecordReplay rr, long nextOutput) {
        this.guest = guest;
        this.rr = rr;
        this.checkpointAt = rr.portOrdinal();
        this.nextOutput = nextOutput;
    }

    /**
     * A committed checkpoint copied out of the standby's store: its memory, device state and output end. Taken under
     * the standby's lock (a plain copy of the image); the guest is made from it afterwards, off that lock, since
     * making one (mapping its memory, arming the emulator) takes far longer than the copy.
     */
    static final class Captured implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        private final SourceSpec spec;
        private final MemorySegment memory;
        private final byte[] deviceState;
        private final long outputEnd;

        private Captured(ImageStore store) {
            StandbyManifest manifest = store.manifest();
            spec = new SourceSpec(manifest.sourceKind(), manifest.sourceParams());
            int pageSize = manifest.pageSize();
            memory = arena.allocate(manifest.pageCount() * pageSize, 4096);
            for (long page = 0; page < manifest.pageCount(); page++) {
                MemorySegment.copy(store.page(page), 0, memory, page * pageSize, pageSize);
            }
            deviceState = store.committed().deviceState();
            outputEnd = store.committed().outputs().end();
        }

        /** Outputs the checkpoint holds: the restored guest's next one is this. */
        long outputEnd() {
            return outputEnd;
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    /** Copies the committed checkpoint of {@code store}; only while no commit runs (under the standby's lock). */
    static Captured capture(ImageStore store) {
        return new Captured(store);
    }

    /**
     * Makes a new guest, not running yet, from a captured checkpoint (which it closes).
     *
     * @throws IllegalArgumentException the guest cannot run here (not an emu guest, or no emulator on this host)
     */
    static SecondaryGuest restore(Captured checkpoint) {
        MemorySource guest;
        try (checkpoint) {
            guest = MemorySources.restore(checkpoint.spec, checkpoint.memory, checkpoint.deviceState);
        }
        try {
            RecordReplay rr = guest.recordReplay().orElseThrow(() -> new IllegalArgumentException(
                    "a " + checkpoint.spec.kind() + " guest cannot replay its inputs (only emu guests can)"));
            return new SecondaryGuest(guest, rr, checkpoint.outputEnd);
        } catch (RuntimeException e) {
            guest.close();
            throw e;
        }
    }

    /**
     * Starts the guest on the journaled inputs from its checkpoint on, waiting at the journal's end (or at the
     * checkpoint itself while the journal has not reached it: the chunks that do reach it extend the replay). Call
     * under the journal's lock.
     *
     * @throws IllegalStateException the journal no longer holds the inputs right after the checkpoint
     */
    void follow(EventJournal events) {
        byte[] replayed = new byte[0];
        long end = checkpointAt;
        if (events.started()) {
            EventLog log = events.log();
            if (log.from() > checkpointAt) {
                throw new IllegalStateException("the journal starts at port access " + log.from()
                        + ", after the checkpoint's " + checkpointAt);
            }
            if (log.end() > checkpointAt) {
                replayed = InputEvents.from(log.events(), checkpointAt);
                end = log.end();
            }
        }
        rr.replay(replayed, end, RecordReplay.AtEnd.WAIT);
        replayEnd = end;
        guest.start();
    }

    /**
     * Feeds the inputs of port accesses {@code [from, end)}; those below where its log already reaches are skipped.
     * Returns false on a gap (the inputs from its end to {@code from} are missing): it cannot go on.
     */
    boolean extend(long from, long end, byte[] events) {
        if (end <= replayEnd) {
            return true;
        }
        if (from > replayEnd) {
            return false;
        }
        rr.extendReplay(from < replayEnd ? InputEvents.from(events, replayEnd) : events, end);
        replayEnd = end;
        return true;
    }

    /** The port access its log reaches: it waits there once it caught up. */
    long replayEnd() {
        return replayEnd;
    }

    /** The port access of the checkpoint it was restored from. */
    long checkpointAt() {
        return checkpointAt;
    }

    /** Index of the next output it will emit. */
    long nextOutput() {
        return nextOutput;
    }

    /** What it emitted since the last call, checked to continue its numbering. */
    List<GuestOutput> outputs() {
        List<GuestOutput> emitted = guest.pollOutputs();
        for (GuestOutput output : emitted) {
            if (output.index() != nextOutput) {
                throw new IllegalStateException("the secondary emitted output " + output.index() + " where "
                        + nextOutput + " was next");
            }
            nextOutput++;
        }
        return emitted;
    }

    /** Why it stopped (the emulator found the log does not fit what the guest does), if it did. */
    Optional<String> fault() {
        return guest.fault();
    }

    /** Whether it waits at port access {@code ordinal}, the end of its log. */
    boolean waitingAt(long ordinal) {
        return replayEnd == ordinal && rr.waitingAtReplayEnd() && rr.portOrdinal() == ordinal;
    }

    /** SHA-256 of its memory; only while it waits at the end of its log (nothing changes it then). */
    byte[] memorySha256() {
        return SnapshotReplay.memorySha256(guest);
    }

    @Override
    public void close() {
        guest.close();
    }
}
