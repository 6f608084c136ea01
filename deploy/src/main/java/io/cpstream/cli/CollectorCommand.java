package io.cpstream.cli;

import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.collector.store.Durability;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "collector", mixinStandardHelpOptions = true,
        description = "Run the collector daemon: receives checkpoint streams and keeps hot-standby images.")
final class CollectorCommand implements Callable<Integer> {

    @Option(names = "--listen", defaultValue = "0.0.0.0:7700", description = "HOST:PORT to serve agents and admin on (default: ${DEFAULT-VALUE})")
    String listen;

    @Option(names = "--data-dir", required = true, description = "Directory for standby images and snapshots")
    Path dataDir;

    @Option(names = "--metrics-port", defaultValue = "9465", description = "Port for /metrics and /health; 0 turns it off (default: ${DEFAULT-VALUE})")
    int metricsPort;

    @Option(names = "--durability", defaultValue = "none",
            description = "none: an acked epoch survives a collector crash; fsync: also a power loss (default: ${DEFAULT-VALUE})")
    String durability;

    @Option(names = "--max-guest-bytes", defaultValue = "1099511627776", description = "Largest guest accepted (default: 1 TiB)")
    long maxGuestBytes;

    @Option(names = "--lease-ms", defaultValue = "2000",
            description = "How long one heartbeat lets a primary release output; promotion without --force waits it out (default: ${DEFAULT-VALUE})")
    long leaseMillis;

    @Option(names = "--auto-promote-after-ms", defaultValue = "0",
            description = "Promote a VM by itself once its primary was silent this long and its lease ran out; 0: never (default)")
    long autoPromoteAfterMillis;

    @Option(names = "--zookeeper",
            description = "ZooKeeper connect string (host:port[,...]) for leases and fencing epochs shared with other collectors")
    String zookeeper;

    @Option(names = "--json", description = "Print one JSON object when the collector has stopped")
    boolean json;

    @Override
    public Integer call() throws Exception {
        HostPort address = HostPort.parse(listen, "--listen");
        CollectorConfig config = new CollectorConfig(address.host(), address.port(), dataDir,
                Durability.parse(durability), maxGuestBytes, Duration.ofSeconds(5), Duration.ofMillis(leaseMillis),
                autoPromoteAfterMillis > 0 ? Duration.ofMillis(autoPromoteAfterMillis) : null, zookeeper);
        try (MetricsEndpoint metrics = new MetricsEndpoint(metricsPort, () -> null);
             CollectorServer server = CollectorServer.start(config, metrics.registry())) {
            System.out.printf("cpstream collector listening on %s:%d, data in %s, metrics on :%d%n", address.host(),
                    server.port(), dataDir.toAbsolutePath(), metrics.port());
            Runtime.getRuntime().addShutdownHook(new Thread(server::close, "collector-shutdown"));
            server.awaitTermination();
            if (json) {
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("stopped", true);
                result.put("port", server.port());
                Json.print(System.out, result);
            }
        }
        return 0;
    }
}
