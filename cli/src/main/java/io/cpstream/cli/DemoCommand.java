package io.cpstream.cli;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentKeys;
import io.cpstream.agent.SnapshotRun;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.config.ConfigKey;
import io.cpstream.harness.LocalReplication;
import io.cpstream.harness.ObservedOutputs;
import io.cpstream.harness.bench.Figures;
import io.cpstream.snapshot.PromotedSnapshot;
import io.cpstream.snapshot.Snapshots;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.tracker.GuestOutput;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The whole product in one command: protect a guest, stream checkpoints over loopback, promote the
 * standby through the admin API as an operator would, prove that the promoted image is the primary's
 * memory at the promoted epoch, byte for byte, then run the promoted VM from its snapshot and check
 * that its output carries on exactly after the last output the primary emitted in the promoted epoch.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, modelTransformer = KeyedOptions.class,
        description = "Replicate a guest to a local collector, promote it, verify the promoted image and run it.")
final class DemoCommand implements Callable<Integer>, KeyedOptions.Keyed {

    static final String DEFAULT_SOURCE = "sim:mem=16m,workload=mixed";
    /** What {@code --source kvm} alone means: a small counter guest, quick even on a nested KVM. */
    static final String DEFAULT_KVM_SOURCE = "kvm:guest=counter,mem=16m";
    /** What {@code --source emu} alone means: the same counter guest on the emulated CPU (no /dev/kvm needed). */
    static final String DEFAULT_EMU_SOURCE = "emu:guest=counter,mem=16m";

    /** A --source as given, with the short forms {@code kvm} and {@code emu} expanded. */
    static String expandSource(String source) {
        return switch (source) {
            case "kvm" -> DEFAULT_KVM_SOURCE;
            case "emu" -> DEFAULT_EMU_SOURCE;
            default -> source;
        };
    }
    static final String VM = "demo-vm";
    /** Outputs of the promoted VM the demo waits for, at most {@link #PROMOTED_PATIENCE}. */
    private static final int PROMOTED_OUTPUTS = 10;
    private static final Duration PROMOTED_PATIENCE = Duration.ofSeconds(60);
    private static final Duration FIRST_COMMIT_PATIENCE = Duration.ofSeconds(60);

    @Option(names = "--seconds", defaultValue = "10", description = "How long to replicate before promoting (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--source", defaultValue = DEFAULT_SOURCE,
            description = "Guest to protect (default: ${DEFAULT-VALUE}); 'kvm' alone means " + DEFAULT_KVM_SOURCE
                    + ", 'emu' alone " + DEFAULT_EMU_SOURCE)
    String source;

    /** The agent's setting (AgentKeys): default and doc from the key. */
    @Option(names = "--epoch-ms")
    long epochMillis;

    @Option(names = "--data-dir", description = "Keep the collector's data (standby and snapshot) here instead of a temporary directory")
    Path dataDir;

    @Option(names = "--insecure", description = "Plaintext between agent and collector instead of mutual TLS with "
            + "certificates made for this run")
    boolean insecure;

    @Option(names = "--json", description = "Print one JSON object as the last line")
    boolean json;

    @Override
    public List<ConfigKey<?>> keys() {
        return List.of(AgentKeys.EPOCH_MS);
    }

    @Override
    public Integer call() throws Exception {
        if (seconds < 1) {
            throw new Errors.UserError("--seconds must be at least 1");
        }
        String spec = expandSource(source);
        if (dataDir != null && Files.exists(dataDir.resolve("vms").resolve(VM))) {
            // Epoch N of a fresh standby is the primary's N-th stun: that is how outputs are matched to epochs.
            throw new Errors.UserError("--data-dir " + dataDir + " already holds " + VM + " from an earlier demo; "
                    + "give an empty or new directory");
        }
        AgentConfig config = AgentConfig.of("unused", VM).withVerify(true)
                .withEpochInterval(Duration.ofMillis(epochMillis));
        ObservedOutputs primaryOutputs = new ObservedOutputs(null);
        try (LocalReplication run = new LocalReplication(spec, dataDir, config, primaryOutputs, !insecure)) {
            System.out.printf("cpstream demo: protecting %s (%d MiB) for %d s, collector on 127.0.0.1:%d (%s)%n", spec,
                    run.guest.memoryBytes() >> 20, seconds, run.collector.port(),
                    insecure ? "plaintext" : "mutual TLS, certificates of this run in " + run.dataDir.resolve("pki"));
            run.start();
            // Count the replication time from the first committed epoch: connecting and the first full
            // checkpoint take a few seconds on a cold JVM, and a standby with nothing committed cannot be promoted.
            run.awaitFirstCommit(FIRST_COMMIT_PATIENCE);
            run.run(Duration.ofSeconds(seconds), json, System.out);
            PromoteResponse promoted;
            try (AdminClient admin = new AdminClient("127.0.0.1:" + run.collector.port(), run.adminTls)) {
                promoted = admin.promote(VM, true);
            }
            // The primary host fails now; everything it emitted up to here is in primaryOutputs.
            run.stopPrimary();
            long epoch = promoted.getPromotedEpoch();
            byte[] primary = run.agent.digestAt(epoch);
            Path snapshot = Path.of(promoted.getSnapshotPath());
            byte[] fromFile = PromotedSnapshot.sha256(snapshot.resolve(Snapshots.MEMORY));
            byte[] reported = promoted.getImageSha256().toByteArray();
            boolean verified = primary != null && Arrays.equals(primary, fromFile) && Arrays.equals(primary, reported);
            var stats = run.agent.stats();

            if (!json) {
                System.out.printf("promoted at epoch %d after %d committed epochs; running the promoted VM from %s%n",
                        epoch, stats.acknowledged(), snapshot);
            }
            boolean primaryHadOutputs = primaryOutputs.count() > 0;
            PromotedSnapshot promotedSnapshot = PromotedSnapshot.open(snapshot);
            ObservedOutputs promotedOutputs = runPromoted(promotedSnapshot, primaryHadOutputs);
            GuestOutput lastOfEpoch = primaryOutputs.lastUpTo(epoch);
            GuestOutput firstPromoted = promotedOutputs.first();
            Boolean continuous = primaryHadOutputs ? ObservedOutputs.continues(lastOfEpoch, firstPromoted) : null;

            Map<String, Object> result = new LinkedHashMap<>();
            result.put("verified", verified);
            if (continuous != null) {
                result.put("guest_output_continuous", continuous);
            }
            result.put("epochs_committed", stats.acknowledged());
            result.put("promoted_epoch", epoch);
            result.put("fencing_epoch", promoted.getFencingEpoch());
            result.put("image_digest", ImageDigest.hex(fromFile));
            result.put("primary_digest", primary == null ? null : ImageDigest.hex(primary));
            result.put("primary_outputs", primaryOutputs.count());
            result.put("primary_last_output_of_epoch", ObservedOutputs.describe(lastOfEpoch));
            result.put("promoted_first_output", ObservedOutputs.describe(firstPromoted));
            result.put("promoted_outputs", promotedOutputs.count());
            // The collector's own record: outputs the guest had emitted before the promoted epoch's stun.
            result.put("snapshot_output_end", promotedSnapshot.manifest().outputs().end());
            result.put("checkpoints_per_s", Figures.round(stats.acknowledged() / (double) seconds));
            result.put("pause_ms_p50", Figures.round(stats.pauseMsP50()));
            result.put("pause_ms_p99", Figures.round(stats.pauseMsP99()));
            result.put("lag_ms_p50", Figures.round(stats.lagMsP50()));
            result.put("source", spec);
            result.put("snapshot", dataDir == null ? null : snapshot.toString());
            if (!json) {
                System.out.printf("primary memory at epoch %d: %s%n", epoch, result.get("primary_digest"));
                System.out.printf("promoted snapshot image:    %s%n", result.get("image_digest"));
                System.out.println(verified ? "verified: the standby is the primary at the promoted epoch, byte for byte"
                        : "NOT VERIFIED: the promoted image differs from the primary");
                if (continuous != null) {
                    System.out.printf("primary's last output in epoch %d: %s; promoted VM's first output: %s%n", epoch,
                            describe(lastOfEpoch), describe(firstPromoted));
                    System.out.println(continuous ? "continuous: the promoted VM's output carries on exactly where the epoch ended"
                            : "NOT CONTINUOUS: the promoted VM's output does not follow the promoted epoch's last output");
                }
            }
            if (json) {
                Json.print(System.out, result);
            }
            return verified && !Boolean.FALSE.equals(continuous) ? 0 : 1;
        }
    }

    /**
     * Restores the promoted VM from its snapshot and runs it until it has emitted its first outputs (if
     * the primary emitted any) or for a moment (if not), failing if it stops on an error.
     */
    private static ObservedOutputs runPromoted(PromotedSnapshot snapshot, boolean expectOutputs) throws Exception {
        ObservedOutputs outputs = new ObservedOutputs(null);
        try (SnapshotRun promoted = new SnapshotRun(snapshot, outputs, null, null)) {
            promoted.start();
            long deadline = System.nanoTime() + (expectOutputs ? PROMOTED_PATIENCE : Duration.ofSeconds(1)).toNanos();
            while (System.nanoTime() < deadline && (!expectOutputs || outputs.count() < PROMOTED_OUTPUTS)) {
                Thread.sleep(10);
                promoted.check();
            }
            return outputs;
        }
    }

    private static String describe(GuestOutput output) {
        return output == null ? "none" : "#" + output.index() + " = " + ObservedOutputs.render(output);
    }
}
