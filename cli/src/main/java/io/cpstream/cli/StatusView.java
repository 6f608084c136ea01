package io.cpstream.cli;

import io.cpstream.proto.VmStatus;
import java.util.List;
import java.util.Map;

/**
 * One frame of {@code cpstream status} for a person at a terminal: a row per VM (and collector) with its
 * state, committed epoch, lag, stun of the committed epoch, throughput since the previous frame, and the collector.
 */
final class StatusView {

    private static final String ROW = "%-20s %-12s %10s %9s %9s %8s %9s %8s  %-21s %s%n";

    private StatusView() {
    }

    /**
     * @param previous the same VMs one frame earlier, by name (empty for the first frame)
     * @param seconds  time between {@code previous} and {@code vms}
     */
    static String render(String title, List<Fleet.Row> rows, Map<String, VmStatus> previous, double seconds) {
        StringBuilder out = new StringBuilder(title).append('\n');
        out.append(String.format(ROW, "VM", "STATE", "EPOCH", "LAG", "STUN", "CKPT/S", "WIRE MB/S", "FENCING",
                "COLLECTOR", "AGENT"));
        for (Fleet.Row row : rows) {
            VmStatus vm = row.vm();
            VmStatus before = previous.get(key(row));
            String checkpoints = "-";
            String megabytes = "-";
            if (before != null && seconds > 0 && vm.getEpochsCommitted() >= before.getEpochsCommitted()) {
                checkpoints = String.format("%.1f", (vm.getEpochsCommitted() - before.getEpochsCommitted()) / seconds);
                megabytes = String.format("%.2f", (vm.getWireBytesReceived() - before.getWireBytesReceived()) / seconds / 1e6);
            }
            out.append(String.format(ROW, vm.getVmId(), StatusCommand.state(vm.getState()), vm.getCommittedEpoch(),
                    vm.getLagMs() < 0 ? "-" : vm.getLagMs() + "ms",
                    vm.getLastStunMicros() == 0 ? "-" : String.format("%.2fms", vm.getLastStunMicros() / 1000.0),
                    checkpoints, megabytes, vm.getFencingEpoch(), row.collector(), vm.getAgentId()));
        }
        if (rows.isEmpty()) {
            out.append("(no VMs yet)\n");
        }
        return out.toString();
    }

    /** A row's identity from frame to frame: its VM on its collector. */
    static String key(Fleet.Row row) {
        return row.vm().getVmId() + "@" + row.collector();
    }
}
