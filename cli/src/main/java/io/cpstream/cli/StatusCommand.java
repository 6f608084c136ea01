package io.cpstream.cli;

import io.cpstream.proto.VmState;
import io.cpstream.proto.VmStatus;
import io.grpc.StatusRuntimeException;
import java.io.PrintStream;
import java.time.LocalTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Every VM a collector protects, or a whole pool of collectors ({@code --collectors zk:...}), with each VM's
 * collector and whether it is protected. {@code --json} prints one object; otherwise a view that refreshes
 * every {@code --interval} seconds until Ctrl-C ({@code --once}: a single frame).
 */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Show every VM a collector (or a pool) protects: a live view, one frame (--once) or JSON (--json).")
final class StatusCommand implements Callable<Integer> {

    /** ANSI: cursor home, clear screen. */
    private static final String CLEAR = "\033[H\033[2J";

    @Option(names = "--collector", defaultValue = "127.0.0.1:7700", description = "HOST:PORT of the collector (default: ${DEFAULT-VALUE})")
    String collector;

    @Option(names = "--collectors", paramLabel = "zk:CONNECT",
            description = "Instead of one collector, every collector of the pool in this ZooKeeper ensemble, and the "
                    + "primaries that run alone after losing their standby")
    String collectors;

    @picocli.CommandLine.Mixin
    TlsOptions tls;

    @Option(names = "--json", description = "Print one JSON object")
    boolean json;

    @Option(names = "--once", description = "Print one frame (throughput measured over one interval) and exit")
    boolean once;

    @Option(names = "--interval", defaultValue = "1", converter = Converters.Positive.class,
            description = "Seconds between refreshes, and the window throughput is measured over (default: ${DEFAULT-VALUE})")
    long intervalSeconds;

    @Override
    public Integer call() throws InterruptedException {
        try (Fleet fleet = Fleet.of(collector, collectors, tls.settings())) {
            if (json) {
                List<Map<String, Object>> rows = new ArrayList<>();
                for (Fleet.Row row : fleet.rows()) {
                    rows.add(row(row));
                }
                Map<String, Object> result = new LinkedHashMap<>();
                result.put(collectors == null ? "collector" : "collectors", collectors == null ? collector : collectors);
                result.put("vms", rows);
                Json.print(System.out, result);
                return 0;
            }
            return once ? onceFrame(fleet) : live(fleet, System.out);
        }
    }

    private int onceFrame(Fleet fleet) throws InterruptedException {
        Map<String, VmStatus> first = byName(fleet.rows());
        long started = System.nanoTime();
        Thread.sleep(intervalSeconds * 1000);
        List<Fleet.Row> second = fleet.rows();
        System.out.print(StatusView.render(title(fleet), second, first, (System.nanoTime() - started) / 1e9));
        System.out.flush();
        return 0;
    }

    /** Redraws until interrupted; a collector that goes away is shown, not fatal. */
    private int live(Fleet fleet, PrintStream out) throws InterruptedException {
        boolean terminal = System.console() != null;
        Map<String, VmStatus> previous = Map.of();
        long previousNanos = 0;
        while (true) {
            String frame;
            long now = System.nanoTime();
            try {
                List<Fleet.Row> vms = fleet.rows();
                frame = StatusView.render(title(fleet), vms, previous,
                        previousNanos == 0 ? 0 : (now - previousNanos) / 1e9);
                previous = byName(vms);
                previousNanos = now;
            } catch (StatusRuntimeException e) {
                frame = title(fleet) + "\n" + Errors.describe(e) + "\n";
                previous = Map.of();
                previousNanos = 0;
            }
            out.print(terminal ? CLEAR + frame : frame + "\n");
            out.flush();
            Thread.sleep(intervalSeconds * 1000);
        }
    }

    private String title(Fleet fleet) {
        return "cpstream status  " + fleet.describe() + "  " + LocalTime.now().truncatedTo(ChronoUnit.SECONDS)
                + (once ? "" : "  every " + intervalSeconds + " s, Ctrl-C quits");
    }

    /** The rows by VM and collector, to measure throughput between two frames. */
    private static Map<String, VmStatus> byName(List<Fleet.Row> rows) {
        return rows.stream().collect(Collectors.toMap(StatusView::key, Fleet.Row::vm, (a, b) -> a));
    }

    static String state(VmState state) {
        return state.name().replace("VM_", "").toLowerCase(Locale.ROOT);
    }

    private static Map<String, Object> row(Fleet.Row fleetRow) {
        VmStatus vm = fleetRow.vm();
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("vm", vm.getVmId());
        row.put("state", state(vm.getState()));
        row.put("collector", fleetRow.collector());
        row.put("protected", fleetRow.replicating());
        row.put("committed_epoch", vm.getCommittedEpoch());
        row.put("lag_ms", vm.getLagMs());
        row.put("stun_us", vm.getLastStunMicros());
        row.put("fencing_epoch", vm.getFencingEpoch());
        row.put("page_size", vm.getPageSize());
        row.put("page_count", vm.getPageCount());
        row.put("agent", vm.getAgentId());
        row.put("epochs_committed", vm.getEpochsCommitted());
        row.put("pages_received", vm.getPagesReceived());
        row.put("wire_bytes_received", vm.getWireBytesReceived());
        row.put("shared_pages", vm.getSharedPages());
        row.put("shared_saved_bytes", vm.getSharedSavedBytes());
        if (vm.getEventLogEnd() > 0) {
            row.put("event_log_from", vm.getEventLogFrom());
            row.put("event_log_end", vm.getEventLogEnd());
            row.put("event_log_bytes", vm.getEventLogBytes());
        }
        if (!vm.getLockstepState().isEmpty()) {
            row.put("lockstep_state", vm.getLockstepState());
            row.put("lockstep_compared_output_end", vm.getLockstepComparedOutputEnd());
            row.put("lockstep_mismatches", vm.getLockstepMismatches());
            row.put("lockstep_resyncs", vm.getLockstepResyncs());
            row.put("lockstep_verifications", vm.getLockstepVerifications());
            row.put("lockstep_memory_divergences", vm.getLockstepMemoryDivergences());
            row.put("lockstep_last_mismatch_output", vm.getLockstepLastMismatchOutput());
        }
        if (!vm.getSnapshotPath().isEmpty()) {
            row.put("snapshot", vm.getSnapshotPath());
        }
        return row;
    }
}
