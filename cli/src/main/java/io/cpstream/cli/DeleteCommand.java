package io.cpstream.cli;

import io.cpstream.collector.client.AdminClient;
import io.cpstream.config.HostPort;
import io.cpstream.proto.DeleteVmResponse;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "delete", mixinStandardHelpOptions = true,
        description = "Remove a VM's standby and snapshots from a collector (admin role; audited).")
final class DeleteCommand implements Callable<Integer> {

    @Option(names = "--collector", defaultValue = "127.0.0.1:7700", description = "HOST:PORT of the collector (default: ${DEFAULT-VALUE})")
    String collector;

    @Option(names = "--vm", required = true, description = "The VM to delete")
    String vm;

    @Option(names = "--force", description = "Delete even while its agent streams or its primary holds a lease")
    boolean force;

    @picocli.CommandLine.Mixin
    TlsOptions tls;

    @Option(names = "--json", description = "Print one JSON object")
    boolean json;

    @Override
    public Integer call() {
        try (AdminClient admin = new AdminClient(HostPort.parse(collector, "--collector").target(), tls.settings())) {
            DeleteVmResponse deleted = admin.delete(vm, force);
            if (json) {
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("vm", deleted.getVmId());
                result.put("deleted", true);
                result.put("committed_epoch", deleted.getCommittedEpoch());
                Json.print(System.out, result);
            } else {
                System.out.printf("deleted %s (its standby was at epoch %d)%n", deleted.getVmId(),
                        deleted.getCommittedEpoch());
            }
        }
        return 0;
    }
}
