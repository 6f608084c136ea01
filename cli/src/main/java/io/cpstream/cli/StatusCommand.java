package io.cpstream.cli;

import io.cpstream.collector.client.AdminClient;
import io.cpstream.config.HostPort;
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
import java.util.function.Function;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Every VM a collector protects. {@code --json} prints one object; otherwise a view that refreshes
 * every {@code --interval} seconds until Ctrl-C ({@code --once}: a single frame).
 */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Show every VM a collector protects: a live view, one frame (--once) or JSON (--json).")
final class StatusCommand implements Callable<Integer> {

    /** ANSI: cursor home, clear screen. */
    private static final String CLEAR = "\033[H\033[2J";

    @Option(names = "--collector", defaultValue = "127.0.0.1:7700", description = "HOST:PORT of the collector (default: ${DEFAULT-VALUE})")
    String collector;

    @Option(names = "--json", description = "Print one JSON object")
    boolean json;

    @Option(names = "--once", description = "Print one frame (throughput measured over one interval) and exit")
    boolean once;

    @Option(names = "--interval", defaultValue = "1", converter = Converters.Positive.class,
            description = "Seconds between refreshes, and the window throughput is measured over (default: ${DEFAULT-VALUE})")
    long intervalSeconds;

    @Override
    public Integer call() throws InterruptedException {
        try (AdminClient admin = new AdminClient(HostPort.parse(collector, "--collector").target())) {
            if (json) {
                List<Map<String, Object>> rows = new ArrayList<>();
                for (VmStatus vm : admin.list()) {
                    rows.add(row(vm));
                }
                Json.print(System.out, Map.of("collector", collector, "vms", rows));
                return 0;
            }
            return once ? onceFrame(admin) : live(admin, System.out);
        }
    }

    private int onceFrame(AdminClient admin) throws InterruptedException {
        Map<String, VmStatus> first = byName(admin.list());
        long started = System.nanoTime();
        Thread.sleep(intervalSeconds * 1000);
        List<VmStatus> second = admin.list();
        System.out.print(StatusView.render(title(), second, first, (System.nanoTime() - started) / 1e9));
        System.out.flush();
        return 0;
    }

    /** Redraws until interrupted; a collector that goes away is shown, not fatal. */
    private int live(AdminClient admin, PrintStream out) throws InterruptedException {
        boolean terminal = System.console() != null;
        Map<String, VmStatus> previous = Map.of();
        long previousNanos = 0;
        while (true) {
            String frame;
            long now = System.nanoTime();
            try {
                List<VmStatus> vms = admin.list();
                frame = StatusView.render(title(), vms, previous, previousNanos == 0 ? 0 : (now - previousNanos) / 1e9);
                previous = byName(vms);
                previousNanos = now;
            } catch (StatusRuntimeException e) {
                frame = title() + "\n" + Errors.describe(e) + "\n";
                previous = Map.of();
                previousNanos = 0;
            }
            out.print(terminal ? CLEAR + frame : frame + "\n");
            out.flush();
            Thread.sleep(intervalSeconds * 1000);
        }
    }

    private String title() {
        return "cpstream status  collector " + collector + "  " + LocalTime.now().truncatedTo(ChronoUnit.SECONDS)
                + (once ? "" : "  every " + intervalSeconds + " s, Ctrl-C quits");
    }

    private static Map<String, VmStatus> byName(List<VmStatus> vms) {
        return vms.stream().collect(Collectors.toMap(VmStatus::getVmId, Function.identity()));
    }

    static String state(VmState state) {
        return state.name().replace("VM_", "").toLowerCase(Locale.ROOT);
    }

    private static Map<String, Object> row(VmStatus vm) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("vm", vm.getVmId());
        row.put("state", state(vm.getState()));
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
        if (!vm.getSnapshotPath().isEmpty()) {
            row.put("snapshot", vm.getSnapshotPath());
        }
        return row;
    }
}
