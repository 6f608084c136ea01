package io.cpstream.cli;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentKeys;
import io.cpstream.agent.EncodingMode;
import io.cpstream.agent.StunConfig;
import io.cpstream.config.ConfigKey;
import io.cpstream.harness.attack.Attack;
import io.cpstream.harness.bench.Bench;
import io.cpstream.harness.bench.BenchSettings;
import io.cpstream.harness.bench.StunComparison;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * End-to-end pipeline figures over loopback: checkpoints per second, stun (pause) and lag percentiles, dirty
 * pages per epoch and wire bytes per dirty page, measured after a warm-up that covers the initial full sync.
 * Optionally the same pipeline in full-page mode side by side ({@code --compare-modes}), and the page encoders
 * against their baselines over one captured sequence of checkpoints ({@code --compare-encoders}).
 * {@code --compare-stun} runs one workload copying every dirty page inside the stun and with the history split,
 * the collector verifying its image against the primary's digest at every epoch of both; {@code --compare-dirty}
 * runs a kvm source with each dirty tracker (KVM's bitmap and ring, userfaultfd's PAGEMAP_SCAN). The runs are
 * {@code harness.bench}'s; this command checks the options and prints.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, modelTransformer = KeyedOptions.class,
        description = "Measure checkpoint rate, pause, lag and wire bytes for a guest over loopback.")
final class BenchCommand implements Callable<Integer>, KeyedOptions.Keyed {

    @Spec
    CommandSpec spec;

    @Option(names = "--seconds", defaultValue = "20", description = "Measured duration (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--warmup-seconds", defaultValue = "2", description = "Unmeasured time after the full sync is "
            + "acknowledged, before the measured window (default: ${DEFAULT-VALUE}). Left out, the warm-up then goes on "
            + "until the JIT has settled (see --warmup-max-seconds); given, the warm-up is exactly this long")
    int warmupSeconds;

    @Option(names = "--warmup-max-seconds", defaultValue = "30", description = "Without --warmup-seconds or "
            + "--warmup-epochs: the warm-up goes on past its first 2 s, a second at a time, until every JVM of the run "
            + "compiled for less than 5% of a core in the last second, at most this long in all (default: "
            + "${DEFAULT-VALUE}). The compile time left in the window is reported (jit_ms_in_window)")
    int warmupMaxSeconds;

    @Option(names = "--warmup-epochs", defaultValue = "0", description = "Instead of --warmup-seconds, warm up until this "
            + "many checkpoints are acknowledged (a replayed trace: 1 covers the full sync without using up the trace)")
    long warmupEpochs;

    // The agent's settings (AgentKeys): default and doc from the key, the description here is a note for bench.
    @Option(names = "--source", description = "with --compare-stun " + StunComparison.SOURCE)
    String source;

    @Option(names = "--epoch-ms", description = "with --compare-stun " + StunComparison.EPOCH_MS)
    long epochMillis;

    @Option(names = "--split")
    StunConfig.Split split;

    @Option(names = "--max-stun-ms")
    Double maxStunMillis;

    @Option(names = "--max-mbps")
    double maxMbps;

    @Option(names = "--verify", description = "always on with --compare-stun")
    boolean verify;

    @Option(names = "--encoding")
    EncodingMode encoding;

    @Option(names = "--delta-cache", description = "also the XBZRLE cache of --compare-encoders")
    long deltaCache;

    @Option(names = "--compare-stun", description = "Run the workload with copy-all and with the history split: once each unmeasured (JIT warm-up), then copy-all, history, history, copy-all (each reports the mean of its two runs), digests verified at every epoch (`copy_all`, `history`)")
    boolean compareStun;

    @Option(names = "--compare-dirty", description = "Run a kvm --source with dirty=bitmap, ring and pagemap, one after the "
            + "other (pagemap is reported as skipped where the kernel lacks it)")
    boolean compareDirty;

    @Option(names = "--compare-modes", description = "Also run the pipeline in full-page mode and in cpstream mode: once each unmeasured (JIT warm-up), then twice each in the order A B B A, and report the mean of each (`modes`)")
    boolean compareModes;

    @Option(names = "--compare-protect", description = "Run an emu kv --source under the same request load (500/s) "
            + "protected by checkpoints and by record/replay: once each unmeasured, then A B B A; then replay against "
            + "lockstep the same way; reports each mode's output latency p50/p99/max from the guest's OUT to its release "
            + "at the sink (a TCP sink on loopback) and checkpoints/s (`checkpoint`, `replay`, `lockstep`), "
            + "`replay_p99_over_checkpoint_p99` and `lockstep_p99_over_replay_p99`")
    boolean compareProtect;

    @Option(names = "--compare-encoders", description = "Also capture --seconds of checkpoints from a fresh --source and run raw, lz4, xbzrle and cpstream over exactly that sequence (`encoders`)")
    boolean compareEncoders;

    @Option(names = "--encoders-only", description = "With --compare-encoders: run only the encoder comparison, no "
            + "pipeline (what bench/compare-encoders.sh runs)")
    boolean encodersOnly;

    @Option(names = "--link-baseline", description = "After the pipeline, measure the bare loopback link in the same run: "
            + "one plain TCP stream and one gRPC stream with the agent's window and flow control, 3 s each "
            + "(`link_mb_per_s`, `grpc_link_mb_per_s`), and the pipeline's wire rate over each (`pipeline_over_link`)")
    boolean linkBaseline;

    @Option(names = "--vms", defaultValue = "0", description = "Run this many VMs (each an agent with its own --source, in "
            + "this process) on one collector process, after one VM alone in the same run: per-VM lag p50/p99, "
            + "checkpoints/s summed, the collector's heap, direct memory and RSS (`single_vm_lag_ms_p99`, "
            + "`vm_lag_ms_p99_worst`, `collector_rss_mb`). CPSTREAM_COLLECTOR_JAVA_OPTS adds JVM flags to the "
            + "collector process alone (a profiler)")
    int vms;

    @Option(names = "--compare-sharing", description = "With --vms: after the VMs stop, count what their standbys "
            + "hold on disk (allocated blocks of images, page maps, journals and the shared page store) and promote each, "
            + "checking its snapshot's digest against its primary's; then run the same VMs, as long, on a second "
            + "collector with page sharing and do the same (`sharing`). Agents run in verify mode. A sim --source gets "
            + "a seed per VM; give it an image-seed to start them from one image")
    boolean compareSharing;

    @Option(names = "--attack", split = ",", paramLabel = "ATTACK", description = "With --vms: measure the same VMs "
            + "again while an attacker runs these against the collector: slowloris (stalled TCP, partial TLS "
            + "ClientHellos, authenticated partial HTTP/2 frames), hello-flood (Hellos for the VMs' names from an agent "
            + "certificate of other VMs, a reader's, no certificate, plaintext). Reports per-VM lag of both windows, "
            + "whether every VM kept committing and the collector's peak memory against its limits (`attack`)")
    List<String> attack;

    @Option(names = "--cpu-hog", description = "After the pipeline, run it again with one busy process per core (like "
            + "guests keeping the host's CPUs busy) and report those figures under `cpu_hog`, with "
            + "`checkpoints_over_quiet` and `lag_p99_over_epoch` (lag p99 in achieved epochs)")
    boolean cpuHog;

    @Option(names = "--json", description = "Print one JSON object as the last line")
    boolean json;

    @Override
    public List<ConfigKey<?>> keys() {
        return List.of(AgentKeys.SOURCE, AgentKeys.EPOCH_MS, AgentKeys.SPLIT, AgentKeys.MAX_STUN_MS, AgentKeys.MAX_MBPS,
                AgentKeys.VERIFY, AgentKeys.ENCODING, AgentKeys.DELTA_CACHE);
    }

    @Option(names = "--compare-tls", description = "Measure the pipeline in plaintext and over mutual TLS 1.3, in the "
            + "order off on on off; reports checkpoints/s and wire MB/s of each and their ratio")
    boolean compareTls;

    /** The pipeline without and with TLS, A B B A so that neither always gets the cold JIT. */
    private static Map<String, Object> compareTls(BenchSettings settings, AgentConfig config) throws Exception {
        Map<String, Object> off = new java.util.LinkedHashMap<>();
        Map<String, Object> on = new java.util.LinkedHashMap<>();
        java.util.List<Map<String, Object>> offRuns = new java.util.ArrayList<>();
        java.util.List<Map<String, Object>> onRuns = new java.util.ArrayList<>();
        for (boolean tls : new boolean[] {false, true, true, false}) {
            (tls ? onRuns : offRuns).add(io.cpstream.harness.bench.Pipeline.measure(settings, settings.source(), config,
                    tls));
        }
        for (String figure : java.util.List.of("checkpoints_per_s", "wire_mb_per_s", "pause_ms_p50", "pause_ms_p99",
                "lag_ms_p50", "lag_ms_p99")) {
            off.put(figure, mean(offRuns, figure));
            on.put(figure, mean(onRuns, figure));
        }
        Map<String, Object> result = new java.util.LinkedHashMap<>();
        result.put("source", settings.source());
        result.put("tls_off", off);
        result.put("tls_on", on);
        result.put("checkpoints_per_s_ratio", ratio(on, off, "checkpoints_per_s"));
        result.put("wire_mb_per_s_ratio", ratio(on, off, "wire_mb_per_s"));
        result.put("runs_off", offRuns);
        result.put("runs_on", onRuns);
        return result;
    }

    private static double mean(java.util.List<Map<String, Object>> runs, String figure) {
        return Math.round(runs.stream().mapToDouble(run -> ((Number) run.get(figure)).doubleValue()).average()
                .orElse(0) * 1000) / 1000.0;
    }

    private static double ratio(Map<String, Object> on, Map<String, Object> off, String figure) {
        double base = ((Number) off.get(figure)).doubleValue();
        return base == 0 ? 0 : Math.round(((Number) on.get(figure)).doubleValue() / base * 1000) / 1000.0;
    }

    @Override
    public Integer call() throws Exception {
        if (seconds < 1 || warmupSeconds < 0) {
            throw new Errors.UserError("--seconds must be at least 1 and --warmup-seconds at least 0");
        }
        if ((compareStun ? 1 : 0) + (compareDirty ? 1 : 0) + (compareModes ? 1 : 0) + (vms > 0 ? 1 : 0)
                + (compareProtect ? 1 : 0) > 1) {
            throw new Errors.UserError("--compare-stun, --compare-dirty, --compare-modes, --compare-protect and --vms are "
                    + "separate runs; pick one");
        }
        if (vms < 0) {
            throw new Errors.UserError("--vms must be at least 1");
        }
        var given = spec.commandLine().getParseResult();
        String guest = compareStun && !given.hasMatchedOption("--source") ? StunComparison.SOURCE : source;
        long epoch = compareStun && !given.hasMatchedOption("--epoch-ms") ? StunComparison.EPOCH_MS : epochMillis;
        if (compareDirty && !guest.startsWith("kvm:")) {
            throw new Errors.UserError("--compare-dirty needs a kvm --source, e.g. kvm:guest=memtouch,mem=64m");
        }
        AgentConfig config = AgentConfig.of("unused", "bench-vm").withEpochInterval(Duration.ofMillis(epoch))
                .withEncoding(encoding).withDeltaCacheBytes(deltaCache).withVerify(verify)
                .withStun(AgentCommand.stunConfig(split, maxStunMillis, maxMbps));
        if (compareProtect && !(guest.startsWith("emu:") && guest.contains("guest=kv"))) {
            throw new Errors.UserError("--compare-protect needs an emu kv --source (record/replay runs on the emulator), "
                    + "e.g. --source emu:guest=kv,mem=64m");
        }
        if (compareProtect && (compareEncoders || linkBaseline || cpuHog || compareTls)) {
            throw new Errors.UserError("--compare-protect is a run of its own");
        }
        if (encodersOnly && (!compareEncoders || compareStun || compareDirty || compareModes || linkBaseline || vms > 0)) {
            throw new Errors.UserError("--encoders-only goes with --compare-encoders alone");
        }
        Bench.Kind kind = encodersOnly ? Bench.Kind.ENCODERS_ONLY : compareProtect ? Bench.Kind.COMPARE_PROTECT
                : compareStun ? Bench.Kind.COMPARE_STUN
                : compareDirty ? Bench.Kind.COMPARE_DIRTY : compareModes ? Bench.Kind.COMPARE_MODES
                : vms > 0 ? Bench.Kind.MANY_VMS : Bench.Kind.PIPELINE;
        // A warm-up given in seconds or epochs is exactly that (tests, reproductions); left out, it waits for the JIT.
        boolean fixedWarmup = given.hasMatchedOption("--warmup-seconds") || given.hasMatchedOption("--warmup-epochs");
        if (warmupMaxSeconds < 0) {
            throw new Errors.UserError("--warmup-max-seconds must be at least 0");
        }
        BenchSettings settings = new BenchSettings(guest, seconds, warmupSeconds, warmupEpochs,
                fixedWarmup && !given.hasMatchedOption("--warmup-max-seconds") ? warmupSeconds : warmupMaxSeconds, json,
                System.out);
        if ((linkBaseline || cpuHog) && kind != Bench.Kind.PIPELINE && kind != Bench.Kind.COMPARE_MODES) {
            throw new Errors.UserError("--link-baseline and --cpu-hog go with a pipeline run, not with --compare-stun "
                    + "or --compare-dirty");
        }
        java.util.Set<Attack> attacks = java.util.EnumSet.noneOf(Attack.class);
        if (attack != null) {
            if (vms == 0) {
                throw new Errors.UserError("--attack goes with --vms (the honest load it is measured beside)");
            }
            try {
                attacks = Attack.parse(String.join(",", attack));
            } catch (IllegalArgumentException e) {
                throw new Errors.UserError("--attack: " + e.getMessage());
            }
        }
        if (compareSharing && vms == 0) {
            throw new Errors.UserError("--compare-sharing goes with --vms, e.g. --vms 32 --source "
                    + "sim:mem=16m,workload=mixed,rate=50,image-seed=7 --compare-sharing");
        }
        if (vms > 0 && compareEncoders) {
            throw new Errors.UserError("--compare-encoders goes with a pipeline run, not with --vms");
        }
        if (compareTls) {
            if (kind != Bench.Kind.PIPELINE || compareEncoders || linkBaseline || cpuHog) {
                throw new Errors.UserError("--compare-tls is a run of its own: the pipeline in plaintext and over mutual "
                        + "TLS, twice each (off on on off)");
            }
            Map<String, Object> result = compareTls(settings, config);
            if (json) {
                Json.print(System.out, result);
            } else {
                result.forEach((k, v) -> System.out.printf("%-26s %s%n", k, v));
            }
            return 0;
        }
        Map<String, Object> result = Bench.run(settings, config, kind, compareEncoders, vms, attacks, compareSharing);
        if (linkBaseline) {
            Bench.addLinkBaseline(result);
        }
        if (cpuHog) {
            Bench.addCpuHog(settings, config, result);
        }
        if (json) {
            Json.print(System.out, result);
        } else {
            result.forEach((k, v) -> System.out.printf("%-26s %s%n", k, v));
        }
        return 0;
    }
}
