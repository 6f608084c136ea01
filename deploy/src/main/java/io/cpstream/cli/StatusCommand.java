package io.cpstream.cli;

import io.cpstream.proto.VmState;
import io.cpstream.proto.VmStatus;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "status", mixinStandardHelpOptions = true, description = "Show every VM a collector protects.")
final class StatusCommand implements Callable<Integer> {

    @Option(names = "--collector", defaultValue = "127.0.0.1:7700", description = "HOST:PORT of the collector (default: ${DEFAULT-VALUE})")
    String collector;

    @Option(names = "--json", description = "Print one JSON object")
    boolean json;

    @Override
    public Integer call() {
        try (AdminClient admin = new AdminClient(HostPort.parse(collector, "--collector").target())) {
            List<VmStatus> vms = admin.list();
            if (json) {
                List<Map<String, Object>> rows = new ArrayList<>();
                for (VmStatus vm : vms) {
                    rows.add(row(vm));
                }
                Json.print(System.out, Map.of("collector", collector, "vms", rows));
            } else {
                System.out.printf("%-20s %-12s %10s %9s %8s %10s  %s%n", "VM", "STATE", "EPOCH", "LAG", "FENCING",
                        "MEMORY", "AGENT");
                for (VmStatus vm : vms) {
                    System.out.printf("%-20s %-12s %10d %9s %8d %9dM  %s%n", vm.getVmId(), state(vm.getState()),
                            vm.getCommittedEpoch(), vm.getLagMs() < 0 ? "-" : vm.getLagMs() + "ms",
                            vm.getFencingEpoch(), vm.getPageCount() * vm.getPageSize() >> 20, vm.getAgentId());
                }
                if (vms.isEmpty()) {
                    System.out.println("(no VMs yet)");
                }
            }
        }
        return 0;
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
