package io.cpstream.cli;

import io.cpstream.encoder.ImageDigest;
import io.cpstream.harness.ObservedOutputs;
import io.cpstream.snapshot.PromotedSnapshot;
import io.cpstream.snapshot.SnapshotReplay;
import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.RecordReplay;
import io.cpstream.tracker.replay.EventLog;
import io.cpstream.tracker.replay.ExecutionTrace;
import io.cpstream.tracker.trace.TraceRecorder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code cpstream replay}: re-executes a recorded stretch of an {@code emu} guest from a snapshot and an event log
 * (record/replay protection journals one; a promoted snapshot holds it as {@code events.log}), to the log's end or
 * {@code --until}, and reports where it ended (or, with {@code --boot SPEC}, a guest booted afresh fed the copy of its
 * inputs a primary recorded from boot, {@code agent --record-inputs}): the image digest and the outputs. With {@code --trace} it also writes
 * a dirty-page trace of the replayed execution (dirty-tracker/TRACE-FORMAT.md), epochs of {@code --trace-ms}.
 */
@Command(name = "replay", mixinStandardHelpOptions = true,
        description = "Re-execute a recorded stretch: a snapshot's guest fed an event log's inputs, to the log's end or "
                + "--until; prints the image digest and outputs there, and writes a dirty-page trace with --trace.")
final class ReplayCommand implements Callable<Integer> {

    @Option(names = "--snapshot", description = "Snapshot directory (of an emu guest)")
    Path snapshotDir;

    @Option(names = "--boot", paramLabel = "SPEC", description = "Instead of a snapshot: boot this emu source afresh "
            + "and replay a log recorded from its boot (agent --record-inputs FILE)")
    String boot;

    @Option(names = "--log", description = "Event log or event journal file (default: the snapshot's events.log)")
    Path logFile;

    @Option(names = "--until", description = "Stop just before this port access (default: the log's end)")
    Long until;

    @Option(names = "--trace", split = ",", paramLabel = "KIND", description = "Trace the replayed execution into "
            + "--out: instructions, memory (every store), ports (every IN and OUT), any of them together (an execution "
            + "trace, EXECUTION-TRACE-FORMAT.md); or pages alone (a dirty-page trace every --trace-ms, TRACE-FORMAT.md)")
    List<String> traceKinds;

    @Option(names = "--out", paramLabel = "FILE", description = "Where --trace writes")
    Path trace;

    @Option(names = "--trace-ms", defaultValue = "10", description = "Epoch length of a pages trace (default: ${DEFAULT-VALUE})")
    long traceMillis;

    @Option(names = "--timeout-s", defaultValue = "300", description = "Give up after this long (default: ${DEFAULT-VALUE})")
    long timeoutSeconds;

    @Option(names = "--json", description = "Print one JSON object as the last line")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (traceMillis < 1 || timeoutSeconds < 1) {
            throw new Errors.UserError("--trace-ms and --timeout-s must be at least 1");
        }
        if ((snapshotDir == null) == (boot == null)) {
            throw new Errors.UserError("give --snapshot DIR, or --boot SPEC with --log FILE: one of them");
        }
        if (boot != null && logFile == null) {
            throw new Errors.UserError("--boot replays a log recorded from boot: give --log FILE");
        }
        boolean pages = traceKinds != null && traceKinds.contains("pages");
        Set<ExecutionTrace.Kind> execution = EnumSet.noneOf(ExecutionTrace.Kind.class);
        if (traceKinds != null) {
            if (trace == null) {
                throw new Errors.UserError("--trace writes into a file: give --out FILE");
            }
            if (pages && traceKinds.size() > 1) {
                throw new Errors.UserError("--trace pages writes a dirty-page trace of its own format; trace it in a "
                        + "run of its own, apart from " + String.join(",", traceKinds.stream()
                                .filter(kind -> !kind.equals("pages")).toList()));
            }
            for (String kind : pages ? List.<String>of() : traceKinds) {
                try {
                    execution.addAll(ExecutionTrace.parse(kind));
                } catch (IllegalArgumentException e) {
                    throw new Errors.UserError(e.getMessage());
                }
            }
        } else if (trace != null) {
            throw new Errors.UserError("--out is where --trace writes: give --trace pages|instructions|memory|ports");
        }
        PromotedSnapshot snapshot = snapshotDir == null ? null : PromotedSnapshot.open(snapshotDir);
        EventLog log;
        try {
            log = logFile != null ? EventLog.read(logFile) : snapshot.eventLog().orElseThrow(() -> new Errors.UserError(
                    "snapshot " + snapshotDir + " holds no event log (it was not under --protect replay); give --log FILE"));
        } catch (IllegalArgumentException e) {
            throw new Errors.UserError("the event log is refused: " + e.getMessage());
        }
        String source = snapshot != null ? snapshot.spec().toString() : boot;
        String origin = snapshot != null ? snapshotDir.toString() : "boot of " + boot;
        Map<String, Object> result = new LinkedHashMap<>();
        int[] traceEpochs = new int[1];
        ExecutionTrace.Summary summary = null;
        SnapshotReplay.Result ended;
        try (SnapshotReplay replay = snapshot != null ? SnapshotReplay.open(snapshot, log, until)
                : SnapshotReplay.fromBoot(boot, log, until)) {
            List<GuestOutput> traced = new ArrayList<>();
            RecordReplay rr = replay.guest().recordReplay().orElseThrow();
            if (!execution.isEmpty()) {
                rr.traceExecution(trace, execution);
            }
            if (pages) {
                TraceRecorder.record(new EndOfReplay(replay.guest(), rr), trace, Duration.ofMillis(traceMillis), Integer.MAX_VALUE,
                        Map.of("source", source, "replay_of", origin,
                                "port_accesses", replay.from() + ".." + replay.until()),
                        (epoch, dirty, stop, pause) -> {
                            traceEpochs[0] = (int) epoch;
                            traced.addAll(replay.guest().pollOutputs());
                        }, rr::waitingAtReplayEnd);
            }
            ended = replay.run(Duration.ofSeconds(timeoutSeconds));
            if (!execution.isEmpty()) {
                rr.endTrace();
                summary = ExecutionTrace.read(trace, entry -> { });
            }
            traced.addAll(ended.outputs());
            ended = new SnapshotReplay.Result(ended.from(), ended.until(), traced, ended.imageSha256());
        } catch (IllegalArgumentException | IllegalStateException | io.cpstream.tracker.kvm.KvmException e) {
            throw new Errors.UserError(e.getMessage());
        }
        result.put(snapshot != null ? "snapshot" : "boot", snapshot != null ? snapshotDir.toString() : boot);
        result.put("source", source);
        result.put("log_from", log.from());
        result.put("log_end", log.end());
        result.put("replayed_from", ended.from());
        result.put("replayed_until", ended.until());
        result.put("image_sha256", ImageDigest.hex(ended.imageSha256()));
        result.put("outputs", ended.outputs().size());
        result.put("first_output", ended.outputs().isEmpty() ? null : ObservedOutputs.describe(ended.outputs().getFirst()));
        result.put("last_output", ended.outputs().isEmpty() ? null : ObservedOutputs.describe(ended.outputs().getLast()));
        if (trace != null) {
            result.put("trace", String.join(",", traceKinds));
            result.put("trace_file", trace.toString());
        }
        if (pages) {
            result.put("trace_epochs", traceEpochs[0]);
        }
        if (summary != null) {
            result.put("trace_records", summary.records());
            for (var count : summary.counts().entrySet()) {
                result.put("trace_" + count.getKey().name().toLowerCase(java.util.Locale.ROOT) + "s", count.getValue());
            }
        }
        if (json) {
            Json.print(System.out, result);
        } else {
            System.out.printf("replayed port accesses %d..%d of %s: %d outputs, image SHA-256 %s%s%n", ended.from(),
                    ended.until(), origin, ended.outputs().size(), result.get("image_sha256"),
                    trace == null ? "" : ", trace " + trace + (pages ? " (" + traceEpochs[0] + " epochs)"
                            : " (" + summary.records() + " events)"));
        }
        return 0;
    }

    /**
     * The replayed guest as the trace recorder sees it: at the end of the log it waits inside a port access, where it
     * has no device state, so the trace's last epoch records an empty one (its pages and digest are exact).
     */
    private static final class EndOfReplay extends io.cpstream.tracker.ForwardingSource {
        private final RecordReplay rr;

        EndOfReplay(io.cpstream.tracker.MemorySource guest, RecordReplay rr) {
            super(guest);
            this.rr = rr;
        }

        @Override
        public io.cpstream.tracker.Stun stun() {
            return new io.cpstream.tracker.ForwardingStun(guest().stun()) {
                @Override
                public byte[] deviceState() {
                    return rr.waitingAtReplayEnd() ? new byte[0] : super.deviceState();
                }
            };
        }
    }
}
