package io.cpstream.harness;

import io.cpstream.agent.output.OutputLog;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.snapshot.PromotedSnapshot;
import io.cpstream.snapshot.SnapshotReplay;
import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.replay.EventLog;
import io.cpstream.tracker.replay.InputEvents;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What only a failover under record/replay protection is checked for, before the promoted VM runs: the promoted
 * snapshot replays its log to the last input the standby acknowledged, and there it must be the primary, byte for byte.
 * The primary's side is its own copy of its inputs from boot ({@code agent --record-inputs}), replayed on a guest booted
 * afresh to the same port access: it involves neither the collector nor the checkpoints. Every output the old primary
 * released past the promoted checkpoint must be one the promoted VM reproduces, at the same index with the same bytes
 * (the sink skips what it has by index alone, so a replay that diverged would pass it silently).
 */
final class ReplayFinale {

    /**
     * What the replay found.
     *
     * @param outputEnd      the output index the promoted VM reaches at the end of its log (exclusive)
     * @param notReproduced  outputs the old primary released that the promoted VM does not reproduce
     * @param digestMismatch the promoted VM's memory at the end of its log is not the primary's there
     * @param lastRequestId  the id of the last kv request in the log, or -1
     */
    record Replayed(long outputEnd, long notReproduced, boolean digestMismatch, long lastRequestId) {
    }

    private ReplayFinale() {
    }

    static Replayed check(PromoteResponse promoted, ChaosProtection protection, Path work, List<OutputLog.Record> released,
                          List<String> violations) throws Exception {
        PromotedSnapshot snapshot = PromotedSnapshot.open(Path.of(promoted.getSnapshotPath()));
        Optional<EventLog> log = snapshot.eventLog();
        if (log.isEmpty()) {
            violations.add("the promoted snapshot holds no event log: its standby could not replay the primary's inputs");
            return new Replayed(promoted.getOutputEnd(), 0, true, -1);
        }
        SnapshotReplay.Result standby;
        try (SnapshotReplay replay = SnapshotReplay.open(snapshot, log.get(), null)) {
            standby = replay.run(ChaosFinale.PATIENCE);
        }
        long until = standby.until();
        EventLog copy = EventLog.read(ChaosProtection.inputCopy(work));
        boolean digestMismatch;
        if (copy.end() < until) {
            violations.add("the primary's copy of its inputs ends at port access " + copy.end() + ", before the last "
                    + "input its standby acknowledged (" + until + "): the standby holds inputs the primary never took");
            digestMismatch = true;
        } else {
            SnapshotReplay.Result primary;
            try (SnapshotReplay replay = SnapshotReplay.fromBoot(protection.source(), copy, until)) {
                primary = replay.run(ChaosFinale.PATIENCE);
            }
            digestMismatch = !Arrays.equals(primary.imageSha256(), standby.imageSha256());
            if (digestMismatch) {
                violations.add("at the last acknowledged input (port access " + until + ") the promoted VM's memory is "
                        + ImageDigest.hex(standby.imageSha256()) + ", the primary's " + ImageDigest.hex(primary.imageSha256()));
            }
            long diverged = differing(standby.outputs(), primary.outputs());
            if (diverged > 0) {
                violations.add(diverged + " outputs of the promoted VM's replay differ from the primary's at the same index");
            }
        }
        long outputEnd = Math.max(promoted.getOutputEnd(),
                standby.outputs().isEmpty() ? 0 : standby.outputs().getLast().index() + 1);
        Map<Long, byte[]> reproduced = byIndex(standby.outputs());
        long notReproduced = released.stream().filter(r -> r.index() >= promoted.getOutputEnd())
                .filter(r -> !Arrays.equals(r.payload(), reproduced.get(r.index()))).count();
        if (notReproduced > 0) {
            violations.add(notReproduced + " outputs the old primary released past the promoted checkpoint are not "
                    + "what the promoted VM's replay emits at their index");
        }
        return new Replayed(outputEnd, notReproduced, digestMismatch, lastRequestId(log.get()));
    }

    /** Outputs of {@code replayed} that {@code reference} has at the same index with other bytes, or lacks. */
    private static long differing(List<GuestOutput> replayed, List<GuestOutput> reference) {
        Map<Long, byte[]> expected = byIndex(reference);
        return replayed.stream().filter(o -> !Arrays.equals(o.payload(), expected.get(o.index()))).count();
    }

    /** Each output's payload by its index. */
    private static Map<Long, byte[]> byIndex(List<GuestOutput> outputs) {
        Map<Long, byte[]> payloads = new HashMap<>();
        outputs.forEach(output -> payloads.put(output.index(), output.payload()));
        return payloads;
    }

    /** The id of the last kv request the log feeds the guest (a request record holds it at byte 8), or -1. */
    private static long lastRequestId(EventLog log) {
        long last = -1;
        for (InputEvents.Event event : InputEvents.parse(log.events())) {
            if (event.kind() == InputEvents.KIND_RECORD && event.data().length >= 16) {
                last = ByteBuffer.wrap(event.data()).order(ByteOrder.LITTLE_ENDIAN).getLong(8);
            }
        }
        return last;
    }
}
