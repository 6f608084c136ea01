package io.cpstream.cli;

import io.cpstream.agent.AgentConfig;
import io.cpstream.collector.store.Snapshots;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.proto.PromoteResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The whole product in one command: protect a guest, stream checkpoints over loopback, promote the
 * standby through the admin API as an operator would, and prove that the promoted image is the
 * primary's memory at the promoted epoch, byte for byte.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Replicate a guest to a local collector, promote it, and verify the promoted image.")
final class DemoCommand implements Callable<Integer> {

    static final String DEFAULT_SOURCE = "sim:mem=16m,workload=mixed";

    @Option(names = "--seconds", defaultValue = "10", description = "How long to replicate before promoting (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--source", defaultValue = DEFAULT_SOURCE, description = "Guest to protect (default: ${DEFAULT-VALUE})")
    String source;

    @Option(names = "--epoch-ms", defaultValue = "10", description = "Target time between checkpoints (default: ${DEFAULT-VALUE})")
    long epochMillis;

    @Option(names = "--data-dir", description = "Keep the collector's data (standby and snapshot) here instead of a temporary directory")
    Path dataDir;

    @Option(names = "--json", description = "Print one JSON object as the last line")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (seconds < 1) {
            throw new Errors.UserError("--seconds must be at least 1");
        }
        AgentConfig config = AgentConfig.of("unused", "demo-vm").withVerify(true)
                .withEpochInterval(Duration.ofMillis(epochMillis));
        try (LocalReplication run = new LocalReplication(source, dataDir, config)) {
            System.out.printf("cpstream demo: protecting %s (%d MiB) for %d s, collector on 127.0.0.1:%d%n", source,
                    run.guest.memoryBytes() >> 20, seconds, run.collector.port());
            run.start();
            run.run(Duration.ofSeconds(seconds), json, System.out);
            PromoteResponse promoted;
            try (AdminClient admin = new AdminClient("127.0.0.1:" + run.collector.port())) {
                promoted = admin.promote("demo-vm", true);
            }
            long epoch = promoted.getPromotedEpoch();
            byte[] primary = run.agent.digestAt(epoch);
            Path snapshot = Path.of(promoted.getSnapshotPath());
            byte[] fromFile = sha256(snapshot.resolve(Snapshots.MEMORY));
            byte[] reported = promoted.getImageSha256().toByteArray();
            boolean verified = primary != null && Arrays.equals(primary, fromFile) && Arrays.equals(primary, reported);
            var stats = run.agent.stats();

            Map<String, Object> result = new LinkedHashMap<>();
            result.put("verified", verified);
            result.put("epochs_committed", stats.acknowledged());
            result.put("promoted_epoch", epoch);
            result.put("fencing_epoch", promoted.getFencingEpoch());
            result.put("image_digest", ImageDigest.hex(fromFile));
            result.put("primary_digest", primary == null ? null : ImageDigest.hex(primary));
            result.put("checkpoints_per_s", round(stats.acknowledged() / (double) seconds));
            result.put("pause_ms_p50", round(stats.pauseMsP50()));
            result.put("pause_ms_p99", round(stats.pauseMsP99()));
            result.put("lag_ms_p50", round(stats.lagMsP50()));
            result.put("source", source);
            result.put("snapshot", dataDir == null ? null : snapshot.toString());
            if (!json) {
                System.out.printf("promoted at epoch %d after %d committed epochs%n", epoch, stats.acknowledged());
                System.out.printf("primary memory at epoch %d: %s%n", epoch, result.get("primary_digest"));
                System.out.printf("promoted snapshot image:    %s%n", result.get("image_digest"));
                System.out.println(verified ? "verified: the standby is the primary at the promoted epoch, byte for byte"
                        : "NOT VERIFIED: the promoted image differs from the primary");
            }
            if (json) {
                Json.print(System.out, result);
            }
            return verified ? 0 : 1;
        }
    }

    private static byte[] sha256(Path file) throws java.io.IOException {
        MessageDigest digest = ImageDigest.newSha256();
        try (var in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 20];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
        }
        return digest.digest();
    }

    static double round(double value) {
        return Math.round(value * 1000) / 1000.0;
    }
}
