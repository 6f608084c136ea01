package io.cpstream.cli;

import com.codahale.metrics.health.HealthCheck;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorKeys;
import io.cpstream.collector.CollectorServer;
import io.cpstream.collector.store.Durability;
import io.cpstream.config.ConfigKey;
import io.cpstream.config.HostPort;
import io.cpstream.proto.VmState;
import io.cpstream.proto.VmStatus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The collector daemon. Its settings are {@link CollectorKeys}: every long option but {@code --config} and
 * {@code --json} is one, and also a key of its {@code --config} file (see {@link ConfigFile});
 * deploy/config/collector.yaml documents them all.
 */
@Command(name = "collector", mixinStandardHelpOptions = true, modelTransformer = KeyedOptions.class,
        description = "Run the collector daemon: receives checkpoint streams and keeps hot-standby images.")
final class CollectorCommand implements Callable<Integer>, KeyedOptions.Keyed {

    @Option(names = ConfigFile.OPTION, paramLabel = "FILE",
            description = "YAML file whose keys are this command's long options; flags override it")
    Path config;

    // Default, description and parser of each option below come from its key in CollectorKeys (KeyedOptions).
    @Option(names = "--listen")
    HostPort listen;

    // Not required=true: it may come from the config file; checked in call().
    @Option(names = "--data-dir")
    Path dataDir;

    @Option(names = "--metrics-port")
    int metricsPort;

    @Option(names = "--metrics-listen")
    String metricsListen;

    @Option(names = "--durability")
    Durability durability;

    @Option(names = "--max-guest-bytes")
    long maxGuestBytes;

    @Option(names = "--max-total-guest-bytes")
    long maxTotalGuestBytes;

    @Option(names = "--max-vms")
    long maxVms;

    @Option(names = "--max-connections")
    long maxConnections;

    @Option(names = "--handshake-timeout-ms")
    long handshakeTimeoutMillis;

    @Option(names = "--idle-timeout-ms")
    long idleTimeoutMillis;

    @Option(names = "--journal-buffers")
    long journalBuffers;

    // arity 0..1 as --insecure: --page-sharing=false turns off what a config file turned on.
    @Option(names = "--page-sharing", arity = "0..1", fallbackValue = "true")
    boolean pageSharing;

    @Option(names = "--lockstep-secondaries")
    long lockstepSecondaries;

    @Option(names = "--lockstep-verify-ms")
    long lockstepVerifyMillis;

    @Option(names = "--lease-ms")
    long leaseMillis;

    @Option(names = "--auto-promote-after-ms")
    long autoPromoteAfterMillis;

    @Option(names = "--zookeeper")
    String zookeeper;

    @Option(names = "--advertise")
    HostPort advertise;

    @Option(names = "--host-name")
    String hostName;

    @Option(names = "--drain-seconds")
    long drainSeconds;

    @Option(names = "--health-max-lag-ms")
    long healthMaxLagMillis;

    @Option(names = "--tls-cert")
    Path tlsCert;

    @Option(names = "--tls-key")
    Path tlsKey;

    @Option(names = "--tls-ca")
    Path tlsCa;

    // arity 0..1 (not negatable), as agent --verify: --insecure=false turns off what a config file turned on.
    @Option(names = "--insecure", arity = "0..1", fallbackValue = "true")
    boolean insecure;

    @Option(names = "--audit-log")
    Path auditLog;

    @Option(names = "--json", description = "Print one JSON object when the collector has stopped")
    boolean json;

    @Override
    public List<ConfigKey<?>> keys() {
        return CollectorKeys.ALL;
    }

    @Override
    public Integer call() throws Exception {
        Options.require(dataDir, CollectorKeys.DATA_DIR);
        CollectorConfig settings = new CollectorConfig(listen.host(), listen.port(), dataDir, durability, maxGuestBytes,
                Duration.ofSeconds(drainSeconds), Duration.ofMillis(leaseMillis),
                autoPromoteAfterMillis > 0 ? Duration.ofMillis(autoPromoteAfterMillis) : null, zookeeper,
                new CollectorConfig.PoolSettings(advertise, hostName),
                new CollectorConfig.Quotas(Math.toIntExact(maxVms), maxTotalGuestBytes, auditLog,
                        Math.toIntExact(journalBuffers), pageSharing,
                        new CollectorConfig.Connections(Math.toIntExact(maxConnections),
                                Duration.ofMillis(handshakeTimeoutMillis), Duration.ofMillis(idleTimeoutMillis))),
                TlsOptions.settings(tlsCert, tlsKey, tlsCa, insecure),
                new CollectorConfig.Lockstep(Math.toIntExact(lockstepSecondaries), Duration.ofMillis(lockstepVerifyMillis)));
        String metricsHost = metricsListen != null ? metricsListen : listen.host();
        try (MetricsEndpoint metrics = new MetricsEndpoint(metricsHost, metricsPort, settings.tls());
             CollectorServer server = CollectorServer.start(settings, metrics.registry())) {
            metrics.check("connected", () -> connected(server.vms()));
            metrics.check("lag", () -> lag(server.vms(), healthMaxLagMillis));
            metrics.check("data-dir", () -> dataDirectory(dataDir));
            String ready = String.format("listening on %s:%d (%s), data in %s, metrics on %s:%d", listen.host(),
                    server.port(), settings.tls().insecure() ? "INSECURE plaintext" : "mutual TLS",
                    dataDir.toAbsolutePath(), metricsHost, metrics.port());
            System.out.println("cpstream collector " + ready);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                SdNotify.stopping("draining streams for up to " + drainSeconds + " s");
                server.close();
            }, "collector-shutdown"));
            SdNotify.ready(ready);
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

    /** Every VM that is not promoted has its agent streaming. */
    static HealthCheck.Result connected(List<VmStatus> vms) {
        List<String> without = vms.stream().filter(vm -> vm.getState() == VmState.VM_DISCONNECTED)
                .map(VmStatus::getVmId).toList();
        if (!without.isEmpty()) {
            return HealthCheck.Result.unhealthy("no agent streaming for " + without);
        }
        return HealthCheck.Result.healthy(vms.size() + " VM(s), none without its agent");
    }

    /** Every replicating VM's standby is at most {@code maxMillis} behind its primary. */
    static HealthCheck.Result lag(List<VmStatus> vms, long maxMillis) {
        List<String> late = vms.stream()
                .filter(vm -> vm.getState() == VmState.VM_REPLICATING && vm.getLagMs() > maxMillis)
                .map(vm -> vm.getVmId() + " (" + vm.getLagMs() + " ms)").toList();
        if (!late.isEmpty()) {
            return HealthCheck.Result.unhealthy("standby older than " + maxMillis + " ms: " + late);
        }
        return HealthCheck.Result.healthy("every replicating standby within " + maxMillis + " ms");
    }

    static HealthCheck.Result dataDirectory(Path dir) {
        if (!Files.isDirectory(dir) || !Files.isWritable(dir)) {
            return HealthCheck.Result.unhealthy(dir + " is not a writable directory");
        }
        try {
            long free = Files.getFileStore(dir).getUsableSpace();
            return HealthCheck.Result.healthy(dir + " writable, " + (free >> 20) + " MiB free");
        } catch (IOException e) {
            return HealthCheck.Result.unhealthy("cannot read the free space of " + dir + ": " + e.getMessage());
        }
    }
}
