package io.cpstream.snapshot;

import io.cpstream.encoder.ImageDigest;
import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.RecordReplay;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.Stun;
import io.cpstream.tracker.replay.EventLog;
import io.cpstream.tracker.replay.InputEvents;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Re-executes a recorded stretch: a guest restored from a snapshot is fed an event log's inputs up to a port access
 * and waits inside it, before it has any effect: guest memory is then exactly what it was on the recorded guest just
 * before that access (a primary blocked in that input poll has the same memory). What {@code cpstream replay} runs, and what tests compare a promoted
 * VM's replay with its primary by. Deterministic: one snapshot and one log give one image, every time.
 */
public final class SnapshotReplay implements AutoCloseable {

    /** How a replay ended: where, with which outputs, and the SHA-256 of guest memory there. */
    public record Result(long from, long until, List<GuestOutput> outputs, byte[] imageSha256) {
    }

    private final MemorySource guest;
    private final RecordReplay rr;
    private final long from;
    private final long until;

    private SnapshotReplay(MemorySource guest, RecordReplay rr, long from, long until) {
        this.guest = guest;
        this.rr = rr;
        this.from = from;
        this.until = until;
    }

    /**
     * Restores {@code snapshot} (without its own log) and sets up the replay of {@code log} to port access
     * {@code until} (the log's end if null). Refused, with the guest closed, when the log does not start at or before
     * the snapshot's port access or does not reach {@code until}.
     */
    public static SnapshotReplay open(PromotedSnapshot snapshot, EventLog log, Long until) throws IOException {
        byte[] deviceState = Files.readAllBytes(snapshot.directory().resolve(snapshot.manifest().deviceStateFile()));
        MemorySource guest = MemorySources.restore(snapshot.spec(),
                snapshot.directory().resolve(snapshot.manifest().memoryFile()), deviceState);
        return over(guest, "the snapshot's source " + snapshot.spec(), log, until);
    }

    /**
     * Boots a guest afresh from {@code spec} and sets up the replay of {@code log} to port access {@code until} (the
     * log's end if null): the whole recorded run of a primary that kept a copy of its inputs from boot
     * ({@code agent --record-inputs}). The spec's client ({@code load=}) is left out: the log has what it sent.
     */
    public static SnapshotReplay fromBoot(String spec, EventLog log, Long until) {
        SourceSpec parsed = MemorySources.parse(spec);
        java.util.Map<String, String> params = new java.util.LinkedHashMap<>(parsed.params());
        params.remove("load");
        MemorySource guest = MemorySources.open(new SourceSpec(parsed.kind(), params));
        return over(guest, "source " + spec, log, until);
    }

    private static SnapshotReplay over(MemorySource guest, String what, EventLog log, Long until) {
        try {
            RecordReplay rr = guest.recordReplay().orElseThrow(() -> new IllegalArgumentException(
                    what + " cannot replay an event log (only emu guests can)"));
            long at = rr.portOrdinal();
            if (at < log.from()) {
                throw new IllegalArgumentException("the event log covers port accesses [" + log.from() + ", " + log.end()
                        + ") but the guest is at " + at + ": the inputs in between are missing");
            }
            // A snapshot taken after the log's end (its checkpoint committed before the last inputs were journaled)
            // has nothing to replay: it is the end.
            long end = until == null ? Math.max(at, log.end()) : until;
            if (end < at || end > Math.max(at, log.end())) {
                throw new IllegalArgumentException("--until " + end + " is outside the replayable [" + at + ", "
                        + log.end() + "]");
            }
            rr.replay(InputEvents.until(InputEvents.from(log.events(), at), end), end, RecordReplay.AtEnd.WAIT);
            return new SnapshotReplay(guest, rr, at, end);
        } catch (RuntimeException e) {
            guest.close();
            throw e;
        }
    }

    /** The replayed guest; {@link MemorySource#stun()} works on it (trace collection), before and at the end. */
    public MemorySource guest() {
        return guest;
    }

    public long from() {
        return from;
    }

    public long until() {
        return until;
    }

    /** Starts the guest, if not yet, and waits until it reached the end; fails with the guest's fault (a divergence). */
    public Result run(Duration timeout) throws InterruptedException {
        guest.start();
        List<GuestOutput> outputs = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            outputs.addAll(guest.pollOutputs()); // drained as it goes: a full output channel would stall the guest
            if (rr.waitingAtReplayEnd()) {
                break;
            }
            var fault = guest.fault();
            if (fault.isPresent()) {
                throw new IllegalStateException("the replay stopped: " + fault.get());
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the replay did not reach port access " + until + " within "
                        + timeout.toSeconds() + " s; it is at " + rr.portOrdinal());
            }
            Thread.sleep(2);
        }
        outputs.addAll(guest.pollOutputs());
        return new Result(from, until, outputs, imageSha256());
    }

    private byte[] imageSha256() {
        return memorySha256(guest);
    }

    /**
     * SHA-256 of a replayed guest's memory, taken in a stun: call it while the guest waits at the end of its log, so
     * nothing changes it.
     */
    public static byte[] memorySha256(MemorySource guest) {
        try (Stun stun = guest.stun(); Arena arena = Arena.ofConfined()) {
            stun.harvestDirty();
            var sha = ImageDigest.newSha256();
            MemorySegment page = arena.allocate(guest.pageSize());
            for (int p = 0; p < guest.pageCount(); p++) {
                guest.copyPage(p, page, 0);
                sha.update(page.asByteBuffer());
            }
            return sha.digest();
        }
    }

    @Override
    public void close() {
        guest.close();
    }
}
