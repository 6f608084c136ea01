package io.cpstream.cli;

import io.cpstream.collector.client.AdminClient;
import io.cpstream.config.HostPort;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.proto.PromoteResponse;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "promote", mixinStandardHelpOptions = true,
        description = "Freeze a VM's standby at its last committed epoch, fence the old primary, write a snapshot.")
final class PromoteCommand implements Callable<Integer> {

    @Option(names = "--collector", defaultValue = "127.0.0.1:7700", description = "HOST:PORT of the collector (default: ${DEFAULT-VALUE})")
    String collector;

    @Option(names = "--vm", required = true, description = "The VM to promote")
    String vm;

    @Option(names = "--force", description = "Promote even though the primary still holds its lease: you know it is dead "
            + "(its output stays fenced either way)")
    boolean force;

    @picocli.CommandLine.Mixin
    TlsOptions tls;

    @Option(names = "--json", description = "Print one JSON object")
    boolean json;

    @Override
    public Integer call() {
        try (AdminClient admin = new AdminClient(HostPort.parse(collector, "--collector").target(), tls.settings())) {
            PromoteResponse promoted = admin.promote(vm, force);
            if (json) {
                Json.print(System.out, describe(promoted));
            } else {
                System.out.printf("promoted %s at epoch %d (fencing epoch %d)%nsnapshot: %s%nmemory sha256: %s%n",
                        promoted.getVmId(), promoted.getPromotedEpoch(), promoted.getFencingEpoch(),
                        promoted.getSnapshotPath(), ImageDigest.hex(promoted.getImageSha256().toByteArray()));
            }
        }
        return 0;
    }

    static Map<String, Object> describe(PromoteResponse promoted) {
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("vm", promoted.getVmId());
        result.put("promoted_epoch", promoted.getPromotedEpoch());
        result.put("fencing_epoch", promoted.getFencingEpoch());
        result.put("snapshot", promoted.getSnapshotPath());
        result.put("image_digest", ImageDigest.hex(promoted.getImageSha256().toByteArray()));
        result.put("device_state_digest", ImageDigest.hex(promoted.getDeviceStateSha256().toByteArray()));
        result.put("output_end", promoted.getOutputEnd());
        result.put("old_lease_remaining_ms", promoted.getLeaseExpiresInMicros() / 1000);
        if (!promoted.getPrimaryImageSha256().isEmpty()) {
            // Present when the agent runs with --verify: the primary's own digest at this epoch.
            result.put("primary_digest", ImageDigest.hex(promoted.getPrimaryImageSha256().toByteArray()));
            result.put("verified", promoted.getPrimaryImageSha256().equals(promoted.getImageSha256()));
        }
        return result;
    }
}
