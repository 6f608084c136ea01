package io.cpstream.harness.bench;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentStats;
import io.cpstream.harness.ChaosFinale;
import io.cpstream.harness.Directories;
import io.cpstream.harness.HarnessException;
import io.cpstream.harness.attack.Attack;
import io.cpstream.harness.attack.Attacker;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.harness.chaos.DaemonProcess;
import io.cpstream.harness.chaos.MetricsReader;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmStatus;
import io.cpstream.security.Pki;
import io.cpstream.security.TlsSettings;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Many VMs on one collector: the collector is a process of its own (started with this JVM's flags, which the launcher
 * set, and explicit heap and direct memory limits), and the agents run in this process, one {@link Agent} with a guest
 * of its own per VM, each exactly as a daemon would run it, over mutual TLS with a CA made for the run. First one VM
 * alone is measured, then {@code vms} at once, in the same invocation: per-VM lag p50/p99 (their median and the
 * worst), checkpoints/s summed, the collector's heap, direct memory and RSS, and how long its {@code /metrics} took to
 * answer while it carried them (the whole page, every 5 s as the shipped Prometheus scrapes it; the memory is read
 * every second, from its three families alone). With {@code attacks}, the same VMs are measured again while an
 * {@link Attacker} runs them (under {@code attack}): per-VM lag of both windows, whether every VM kept committing, the
 * collector's peak heap and direct memory against its limits, and what the attacks did.
 */
final class ManyVms {

    private static final Duration PATIENCE = Duration.ofSeconds(120);
    /** Extra JVM flags for the collector process only, e.g. a profiler's {@code -agentpath:...}. */
    static final String COLLECTOR_JAVA_OPTS = "CPSTREAM_COLLECTOR_JAVA_OPTS";
    private static final Pattern HEAP = Pattern.compile("^jvm_memory_used_bytes\\{[^}]*area=\"heap\"[^}]*} (\\S+)$",
            Pattern.MULTILINE);
    private static final Pattern DIRECT = Pattern.compile("^jvm_buffer_memory_used_bytes\\{[^}]*id=\"direct\"[^}]*} (\\S+)$",
            Pattern.MULTILINE);
    private static final Pattern NETTY_DIRECT = Pattern.compile("^cpstream_collector_netty_direct_bytes(?:\\{[^}]*})? (\\S+)$",
            Pattern.MULTILINE);
    /**
     * The families {@link #HEAP}, {@link #DIRECT} and {@link #NETTY_DIRECT} match, all that the once-a-second reads ask
     * for. Read whole once a second, the page (a histogram per VM) took 11% of a 64-VM collector's CPU to build and 10%
     * of the bench's to parse: the measurement loaded what it measured.
     */
    private static final String MEMORY_METRICS = MetricsReader.metricsOf(List.of("jvm_memory_used_bytes",
            "jvm_buffer_memory_used_bytes", "cpstream_collector_netty_direct_bytes"));
    private static final Pattern COMPILE_SECONDS = Pattern.compile(
            "^jvm_compilation_time_seconds_total(?:\\{[^}]*})? (\\S+)$", Pattern.MULTILINE);
    private static final String COMPILE_METRICS = MetricsReader.metricsOf(List.of("jvm_compilation_time_seconds"));
    /**
     * How often a window reads the whole page and times it ({@code metrics_scrape_ms_max}): as often as
     * deploy/prometheus/prometheus.yml scrapes a daemon, so the bench adds the load a deployment would.
     */
    private static final Duration WHOLE_PAGE_EVERY = Duration.ofSeconds(5);
    /** The collector's heap limit: what deploy/dist/cpstream.env gives the daemons. */
    static final long HEAP_LIMIT_BYTES = 1L << 30;
    /**
     * The collector's direct memory limit: the JVM's direct buffers (2 MiB of journal buffers per VM) and, counted
     * separately against the same limit, Netty's (gRPC's buffers).
     */
    static final long DIRECT_LIMIT_BYTES = 512L << 20;

    private ManyVms() {
    }

    static Map<String, Object> run(BenchSettings settings, AgentConfig config, int vms) throws Exception {
        return run(settings, config, vms, Set.of(), false);
    }

    /**
     * One VM alone, then {@code vms} at once, on one collector; with {@code attacks}, the same VMs again under attack.
     * With {@code compareSharing}, every agent runs in verify mode (each epoch's image checked against its primary's
     * digest), and after the VMs stop, their standbys' stored bytes are counted ({@link StoredBytes}) and each VM
     * promoted, its snapshot's digest checked against its primary's; then the same VMs run again, as long, on a
     * second collector with page sharing, and are counted and promoted the same way ({@code sharing}).
     */
    static Map<String, Object> run(BenchSettings settings, AgentConfig plain, int vms, Set<Attack> attacks,
                                   boolean compareSharing) throws Exception {
        if (vms < 1) {
            throw new IllegalArgumentException("--vms must be at least 1");
        }
        Path work = Files.createTempDirectory("cpstream-vms-");
        Path pki = work.resolve("pki");
        Pki.Throwaway identities = Pki.throwaway(pki, "*");
        AgentConfig config = (compareSharing ? plain.withVerify(true) : plain).withTls(identities.agent());
        try {
            Map<String, Object> result = new LinkedHashMap<>();
            Map<String, Object> withoutSharing;
            try (Collector collector = Collector.start(work.resolve("collector"), identities, false)) {
                result.put("vms", vms);
                result.put("tls", true);
                settings.out().printf("cpstream bench: %s, one VM alone, then %d VMs on one collector (pid %d, mutual "
                                + "TLS)%s%s%n", settings.source(), vms, collector.process.pid(), attacks.isEmpty() ? ""
                                : ", then the same VMs under attack (" + String.join(",",
                                attacks.stream().map(Attack::label).toList()) + ")",
                        compareSharing ? ", then on a collector with page sharing (verify mode)" : "");
                Phase single = measure(settings, config, collector, "single", 1, Set.of(), pki).get(0);
                result.put("single_vm_checkpoints_per_s", Figures.round(single.checkpointsPerSecond()));
                result.put("single_vm_lag_ms_p50", Figures.round(single.lagP50Median()));
                result.put("single_vm_lag_ms_p99", Figures.round(single.lagP99Worst()));
                List<Phase> phases = measure(settings, config, collector, "vm", vms, attacks, pki);
                Phase many = phases.get(0);
                result.putAll(figures(many, vms));
                result.put("lag_p99_over_single", Figures.ratio(many.lagP99Worst(), single.lagP99Worst()));
                result.put("collector_heap_limit_mb", Figures.round(HEAP_LIMIT_BYTES / 1e6));
                result.put("collector_direct_limit_mb", Figures.round(DIRECT_LIMIT_BYTES / 1e6));
                if (!attacks.isEmpty()) {
                    result.put("attack", attacked(many, phases.get(1), collector));
                }
                withoutSharing = compareSharing ? storedAndPromoted(collector, many.vms(), identities) : null;
            }
            if (compareSharing) {
                result.put("sharing", compareSharing(settings, config, vms, work, identities, withoutSharing));
            }
            return result;
        } finally {
            Directories.deleteTree(work);
        }
    }

    /** The figures of one window of {@code vms} VMs: rates, lag, and the collector's memory at its end and peak. */
    private static Map<String, Object> figures(Phase many, int vms) {
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("checkpoints_per_s", Figures.round(many.checkpointsPerSecond()));
        result.put("vm_checkpoints_per_s_min", Figures.round(many.slowestCheckpointsPerSecond()));
        result.put("vm_lag_ms_p50", Figures.round(many.lagP50Median()));
        result.put("vm_lag_ms_p99_median", Figures.round(many.lagP99Median()));
        result.put("vm_lag_ms_p99_worst", Figures.round(many.lagP99Worst()));
        result.put("collector_heap_mb", Figures.round(many.memory.heapBytes() / 1e6));
        result.put("collector_direct_mb", Figures.round(many.memory.directBytes() / 1e6));
        result.put("collector_netty_direct_mb", Figures.round(many.memory.nettyDirectBytes() / 1e6));
        result.put("collector_rss_mb", Figures.round(many.memory.rssBytes() / 1e6));
        result.put("collector_rss_per_vm_mb", Figures.round(many.memory.rssBytes() / 1e6 / (vms + 1)));
        result.put("metrics_scrape_ms_max", Figures.round(many.scrapeMillisMax));
        // Compile time inside the window, of the agents' JVM and the collector's: what is left of the warm-up there.
        result.put("jit_ms_in_window", many.jitMillis);
        result.put("collector_jit_ms_in_window", many.collectorJitMillis);
        result.put("collector_heap_mb_peak", Figures.round(many.peak.heapBytes() / 1e6));
        result.put("collector_direct_mb_peak", Figures.round(many.peak.allDirectBytes() / 1e6));
        return result;
    }

    /**
     * The same {@code vms} VMs, as long, on a collector with page sharing, counted and promoted as the one without
     * was ({@code withoutSharing}); both side by side, with what sharing saved.
     */
    private static Map<String, Object> compareSharing(BenchSettings settings, AgentConfig config, int vms, Path work,
                                                      Pki.Throwaway identities, Map<String, Object> withoutSharing)
            throws Exception {
        Map<String, Object> withSharing;
        try (Collector collector = Collector.start(work.resolve("collector-sharing"), identities, true)) {
            settings.out().printf("cpstream bench: %d VMs on a collector with page sharing (pid %d)%n", vms,
                    collector.process.pid());
            Phase many = measure(settings, config, collector, "vm", vms, Set.of(), work.resolve("pki")).get(0);
            withSharing = new LinkedHashMap<>(figures(many, vms));
            withSharing.putAll(storedAndPromoted(collector, many.vms(), identities));
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("counted", "allocated blocks (st_blocks) of each standby's image.mem, shared.map, journal.wal and "
                + "events.journal, manifest and commits.log, and of <data-dir>/shared; snapshots not counted");
        result.put("off", withoutSharing);
        result.put("on", withSharing);
        long off = ((Number) ((Map<?, ?>) withoutSharing.get("stored")).get("total_bytes")).longValue();
        long on = ((Number) ((Map<?, ?>) withSharing.get("stored")).get("total_bytes")).longValue();
        result.put("stored_mb_off", Figures.round(off / 1e6));
        result.put("stored_mb_on", Figures.round(on / 1e6));
        result.put("stored_on_over_off", Figures.ratio(on, off));
        result.put("saved_mb", Figures.round((off - on) / 1e6));
        result.put("every_digest_matches", Boolean.TRUE.equals(withoutSharing.get("every_digest_matches"))
                && Boolean.TRUE.equals(withSharing.get("every_digest_matches")));
        return result;
    }

    /**
     * With the VMs stopped: what their standbys hold on disk, then each promoted (forced: their agents are gone, their
     * leases may still run), its snapshot's digest compared with the digest its primary sent for that epoch.
     */
    private static Map<String, Object> storedAndPromoted(Collector collector, List<String> vms,
                                                         Pki.Throwaway identities) throws Exception {
        Map<String, Object> result = new LinkedHashMap<>();
        Map<String, Object> stored = StoredBytes.of(collector.dataDir(), vms);
        result.put("stored", stored);
        result.put("stored_mb", Figures.round(((Number) stored.get("total_bytes")).longValue() / 1e6));
        if (collector.sharing()) {
            long sharedPages = 0;
            long saved = 0;
            try (AdminClient admin = new AdminClient("127.0.0.1:" + collector.port(), identities.admin())) {
                for (VmStatus status : admin.list()) {
                    if (vms.contains(status.getVmId())) {
                        sharedPages += status.getSharedPages();
                        saved += status.getSharedSavedBytes();
                    }
                }
            }
            result.put("shared_pages", sharedPages);
            result.put("shared_saved_mb", Figures.round(saved / 1e6));
        }
        List<String> mismatches = new ArrayList<>();
        long promoted = 0;
        try (AdminClient admin = new AdminClient("127.0.0.1:" + collector.port(), identities.admin())) {
            for (String vm : vms) {
                PromoteResponse response = admin.promote(vm, true);
                promoted++;
                if (response.getPrimaryImageSha256().size() != 32
                        || !response.getPrimaryImageSha256().equals(response.getImageSha256())) {
                    mismatches.add(vm + " (epoch " + response.getPromotedEpoch() + ": snapshot "
                            + ImageDigest.hex(response.getImageSha256().toByteArray()) + ", primary "
                            + (response.getPrimaryImageSha256().isEmpty() ? "sent none"
                            : ImageDigest.hex(response.getPrimaryImageSha256().toByteArray())) + ")");
                }
            }
        }
        result.put("promoted", promoted);
        result.put("every_digest_matches", mismatches.isEmpty());
        result.put("digest_mismatches", mismatches);
        return result;
    }

    /** How many VMs may be in their first full sync at once while a phase starts. */
    private static final int FIRST_SYNCS_AT_ONCE = 8;

    /** Waits until {@code agent} committed a first epoch; throws if it stops or takes longer than {@link #PATIENCE}. */
    private static void awaitFirstCommit(Agent agent, int count) throws InterruptedException {
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (agent.acknowledgedEpoch() == 0) {
            if (agent.awaitTermination(Duration.ofMillis(20))) {
                throw new HarnessException("an agent stopped: " + Agent.describe(agent.failure()));
            }
            if (System.nanoTime() > deadline) {
                throw new HarnessException("a VM did not commit a first epoch within " + PATIENCE.toSeconds()
                        + " s (" + count + " VMs)");
            }
        }
    }

    /**
     * The source of VM {@code index}: a sim guest gets a seed of its own ({@code seed} plus the index, 1 when none is
     * given), so the VMs write different pages at different times, as VMs do; with {@code image-seed} they still
     * start from one image (clones), without it from images of their own. Other sources are used as they are.
     */
    static String guestSource(String source, int index) {
        if (!source.startsWith("sim:") && !source.equals("sim")) {
            return source;
        }
        String params = source.startsWith("sim:") ? source.substring(4) : "";
        List<String> out = new ArrayList<>();
        long seed = 1;
        for (String param : params.isEmpty() ? new String[0] : params.split(",")) {
            if (param.startsWith("seed=")) {
                try {
                    seed = Long.parseLong(param.substring(5));
                } catch (NumberFormatException e) {
                    return source; // the source's own parser says what is wrong with it
                }
            } else {
                out.add(param);
            }
        }
        out.add("seed=" + (seed + index));
        return "sim:" + String.join(",", out);
    }

    /** What one set of VMs did in the measured window, and the collector's state at its end. */
    private record Phase(List<String> vms, List<AgentStats.Snapshot> stats, double seconds, Memory memory, Memory peak,
                         double scrapeMillisMax, long jitMillis, long collectorJitMillis, List<String> notCommitting,
                         Map<String, Object> attacker) {
        double checkpointsPerSecond() {
            return stats.stream().mapToLong(AgentStats.Snapshot::acknowledged).sum() / seconds;
        }

        double slowestCheckpointsPerSecond() {
            return stats.stream().mapToLong(AgentStats.Snapshot::acknowledged).min().orElse(0) / seconds;
        }

        double lagP50Median() {
            return median(stats.stream().mapToDouble(AgentStats.Snapshot::lagMsP50).toArray());
        }

        double lagP99Median() {
            return median(stats.stream().mapToDouble(AgentStats.Snapshot::lagMsP99).toArray());
        }

        double lagP99Worst() {
            return stats.stream().mapToDouble(AgentStats.Snapshot::lagMsP99).max().orElse(0);
        }

        private static double median(double[] values) {
            Arrays.sort(values);
            return values.length == 0 ? 0 : values[values.length / 2];
        }
    }

    /** The figures of the attacked window beside the quiet one, per VM and summed, and the collector's limits. */
    private static Map<String, Object> attacked(Phase quiet, Phase attack, Collector collector) {
        Map<String, Object> result = new LinkedHashMap<>(attack.attacker());
        result.put("checkpoints_per_s", Figures.round(attack.checkpointsPerSecond()));
        result.put("vm_checkpoints_per_s_min", Figures.round(attack.slowestCheckpointsPerSecond()));
        result.put("vm_lag_ms_p50", Figures.round(attack.lagP50Median()));
        result.put("vm_lag_ms_p99_median", Figures.round(attack.lagP99Median()));
        result.put("vm_lag_ms_p99_worst", Figures.round(attack.lagP99Worst()));
        result.put("lag_p99_over_quiet", Figures.ratio(attack.lagP99Worst(), quiet.lagP99Worst()));
        result.put("checkpoints_over_quiet", Figures.ratio(attack.checkpointsPerSecond(), quiet.checkpointsPerSecond()));
        result.put("every_vm_committed", attack.notCommitting().isEmpty());
        result.put("vms_not_committing", attack.notCommitting());
        result.put("collector_alive", collector.process.alive());
        result.put("collector_heap_mb_peak", Figures.round(attack.peak.heapBytes() / 1e6));
        result.put("collector_direct_mb_peak", Figures.round(attack.peak.directBytes() / 1e6));
        result.put("collector_netty_direct_mb_peak", Figures.round(attack.peak.nettyDirectBytes() / 1e6));
        result.put("collector_rss_mb_peak", Figures.round(attack.peak.rssBytes() / 1e6));
        result.put("collector_within_limits", collector.process.alive()
                && attack.peak.heapBytes() <= HEAP_LIMIT_BYTES && attack.peak.allDirectBytes() <= DIRECT_LIMIT_BYTES);
        List<Map<String, Object>> perVm = new ArrayList<>();
        for (int i = 0; i < attack.vms().size(); i++) {
            Map<String, Object> vm = new LinkedHashMap<>();
            vm.put("vm", attack.vms().get(i));
            vm.put("quiet_lag_ms_p50", Figures.round(quiet.stats().get(i).lagMsP50()));
            vm.put("quiet_lag_ms_p99", Figures.round(quiet.stats().get(i).lagMsP99()));
            vm.put("attack_lag_ms_p50", Figures.round(attack.stats().get(i).lagMsP50()));
            vm.put("attack_lag_ms_p99", Figures.round(attack.stats().get(i).lagMsP99()));
            vm.put("attack_acknowledged", attack.stats().get(i).acknowledged());
            perVm.add(vm);
        }
        result.put("per_vm", perVm);
        return result;
    }

    /**
     * Starts {@code count} agents named {@code prefix-i}, warms them up and measures a window; with {@code attacks},
     * measures a second window while an {@link Attacker} (certificates from the CA in {@code pki}) runs them; stops
     * the agents. One phase per window.
     */
    private static List<Phase> measure(BenchSettings settings, AgentConfig config, Collector collector, String prefix,
                                       int count, Set<Attack> attacks, Path pki) throws Exception {
        List<MemorySource> guests = new ArrayList<>();
        List<Agent> agents = new ArrayList<>();
        List<String> names = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                MemorySource guest = MemorySources.open(guestSource(settings.source(), i));
                guests.add(guest);
                names.add(String.format("%s-%03d", prefix, i));
                agents.add(new Agent(config.withCollector("127.0.0.1:" + collector.port).withVmId(names.get(i)), guest,
                        new SimpleMeterRegistry()));
            }
            // Brought up at most FIRST_SYNCS_AT_ONCE full syncs at a time: 64 agents sending their whole guests at
            // once on two cores starved the collector's lease grants past the agents' standby timeout, and an agent
            // that gives up a standby starts its full sync again (measured: the VMs never all committed). The
            // measured window is the steady state that follows.
            for (int i = 0; i < agents.size(); i++) {
                if (i >= FIRST_SYNCS_AT_ONCE) {
                    awaitFirstCommit(agents.get(i - FIRST_SYNCS_AT_ONCE), count);
                }
                agents.get(i).start();
            }
            for (Agent agent : agents) {
                awaitFirstCommit(agent, count);
            }
            Thread.sleep(settings.warmupSeconds() * 1000L);
            if (settings.waitsForJit()) {
                // Both JVMs: this one runs the agents, the collector's runs the standbys.
                double waited = JitWarmup.settle(settings.jitWaitLimit(),
                        List.of(JitWarmup::localCompileMillis, collector::compileMillis), Thread::sleep);
                settings.out().printf("cpstream bench: %s: warm-up %.1f s past the first commits (the JIT settling)%n",
                        prefix, settings.warmupSeconds() + waited);
            }
            List<Phase> phases = new ArrayList<>();
            phases.add(window(settings, names, agents, collector, false, Map.of()));
            if (!attacks.isEmpty()) {
                try (Attacker attacker = Attacker.start(attacks, new InetSocketAddress("127.0.0.1", collector.port),
                        pki, names)) {
                    settings.out().printf("cpstream bench: attacking (%s)%n",
                            String.join(",", attacks.stream().map(Attack::label).toList()));
                    // The window opens once every kind of attack is in place (its first connection held, its first
                    // Hello refused), and the attack has had the warm-up to ramp up.
                    long ramp = System.nanoTime();
                    boolean underWay = attacker.awaitUnderWay(PATIENCE);
                    Thread.sleep(Math.max(0, settings.warmupSeconds() * 1000L - (System.nanoTime() - ramp) / 1_000_000));
                    Phase attacked = window(settings, names, agents, collector, true, Map.of());
                    Map<String, Object> figures = new LinkedHashMap<>(attacker.figures());
                    figures.put("ramp_s", Figures.round((System.nanoTime() - ramp) / 1e9 - attacked.seconds()));
                    figures.put("every_attack_under_way", underWay);
                    phases.add(new Phase(attacked.vms(), attacked.stats(), attacked.seconds(), attacked.memory(),
                            attacked.peak(), attacked.scrapeMillisMax(), attacked.jitMillis(),
                            attacked.collectorJitMillis(), attacked.notCommitting(), figures));
                }
            }
            return phases;
        } finally {
            agents.forEach(Agent::close);
            guests.forEach(MemorySource::close);
        }
    }

    /**
     * One measured window of {@code agents}: their stats from its start, the collector's memory at its end and at
     * its peak (read every second). {@code underAttack}: an agent that stops or a VM that commits nothing in the
     * window is reported, not thrown.
     */
    private static Phase window(BenchSettings settings, List<String> names, List<Agent> agents, Collector collector,
                                boolean underAttack, Map<String, Object> attacker) throws Exception {
        agents.forEach(Agent::resetStats);
        long[] before = agents.stream().mapToLong(Agent::acknowledgedEpoch).toArray();
        long jitBefore = JitWarmup.localCompileMillis();
        long collectorJitBefore = collector.compileMillis();
        long start = System.nanoTime();
        long end = start + settings.seconds() * 1_000_000_000L;
        double scrapeMax = 0;
        long nextWholePage = start;
        Memory peak = new Memory(0, 0, 0, 0);
        while (System.nanoTime() < end) {
            Thread.sleep(Math.max(1, Math.min(1000, (end - System.nanoTime()) / 1_000_000)));
            long scrapeStart = System.nanoTime();
            boolean wholePage = scrapeStart >= nextWholePage;
            try {
                peak = peak.max(collector.memory(wholePage));
            } catch (IOException e) {
                if (!underAttack) {
                    throw e;
                } // a scrape the attack delayed or refused: the next one tells
            }
            if (wholePage) {
                scrapeMax = Math.max(scrapeMax, (System.nanoTime() - scrapeStart) / 1e6);
                nextWholePage = scrapeStart + WHOLE_PAGE_EVERY.toNanos();
            }
            for (Agent agent : agents) {
                if (agent.failure() != null && !underAttack) {
                    throw new HarnessException("an agent stopped: " + Agent.describe(agent.failure()));
                }
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        List<AgentStats.Snapshot> stats = agents.stream().map(Agent::stats).toList();
        List<String> notCommitting = new ArrayList<>();
        for (int i = 0; i < agents.size(); i++) {
            if (agents.get(i).failure() != null || agents.get(i).acknowledgedEpoch() <= before[i]) {
                notCommitting.add(names.get(i));
            }
        }
        Memory last = collector.process.alive() ? collector.memory(false) : peak;
        long jit = JitWarmup.localCompileMillis() - jitBefore;
        long collectorJit = collector.process.alive() ? collector.compileMillis() - collectorJitBefore : -1;
        return new Phase(List.copyOf(names), stats, seconds, last, peak.max(last), scrapeMax, jit, collectorJit,
                notCommitting, attacker);
    }

    /** The collector's memory: heap and direct from its own metrics, RSS from the kernel. */
    private record Memory(double heapBytes, double directBytes, double nettyDirectBytes, double rssBytes) {
        /** The JVM's direct buffers and Netty's, both counted against -XX:MaxDirectMemorySize. */
        double allDirectBytes() {
            return directBytes + nettyDirectBytes;
        }

        Memory max(Memory other) {
            return new Memory(Math.max(heapBytes, other.heapBytes), Math.max(directBytes, other.directBytes),
                    Math.max(nettyDirectBytes, other.nettyDirectBytes), Math.max(rssBytes, other.rssBytes));
        }
    }

    /** A collector process of its own, so its memory is its own. */
    private record Collector(DaemonProcess process, int port, int metricsPort, MetricsReader reader, Path dataDir,
                             boolean sharing) implements AutoCloseable {

        /**
         * A collector with its log and data under {@code work}, with page sharing or without, run with the collector
         * identity of {@code identities}; its metrics are read with the admin's (they are served over mutual TLS).
         */
        static Collector start(Path work, Pki.Throwaway identities, boolean sharing) throws Exception {
            TlsSettings tls = identities.collector();
            Files.createDirectories(work);
            int port = ChaosFinale.freePort();
            int metricsPort = ChaosFinale.freePort();
            List<String> flags = DaemonProcess.launcherFlags();
            flags.add("-Xmx" + (HEAP_LIMIT_BYTES >> 20) + "m");
            flags.add("-XX:MaxDirectMemorySize=" + (DIRECT_LIMIT_BYTES >> 20) + "m");
            // The collector is where many VMs meet; a profiler (-agentpath:...) is attached to it this way.
            String extra = System.getenv(COLLECTOR_JAVA_OPTS);
            if (extra != null && !extra.isBlank()) {
                flags.addAll(List.of(extra.trim().split("\\s+")));
            }
            Path data = work.resolve("data");
            List<String> args = new ArrayList<>(List.of("collector", "--tls-cert", tls.cert().toString(), "--tls-key",
                    tls.key().toString(), "--tls-ca", tls.ca().toString(), "--listen", "127.0.0.1:" + port,
                    "--data-dir", data.toString(), "--metrics-port", String.valueOf(metricsPort)));
            if (sharing) {
                args.add("--page-sharing");
            }
            DaemonProcess process = DaemonProcess.start(work.resolve("collector.log"), flags, "io.cpstream.cli.Main",
                    args);
            Collector collector = new Collector(process, port, metricsPort,
                    new MetricsReader(identities.admin(), Duration.ofSeconds(2)), data, sharing);
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            while (true) {
                try {
                    collector.metrics(MEMORY_METRICS);
                    return collector;
                } catch (IOException e) {
                    if (!process.alive() || System.nanoTime() > deadline) {
                        collector.close();
                        throw new HarnessException("the collector did not start: see " + process.log());
                    }
                    Thread.sleep(100);
                }
            }
        }

        /** {@code path} on the collector's metrics port: {@code /metrics}, whole or with {@code name[]} filters. */
        String metrics(String path) throws IOException, InterruptedException {
            HttpResponse<String> response = reader.get(metricsPort, path, Duration.ofSeconds(30));
            if (response.statusCode() != 200) {
                throw new IOException(path + " answered " + response.statusCode());
            }
            return response.body();
        }

        /** Its JIT's compile time so far, in ms, from its metrics; -1 when they do not say. */
        long compileMillis() throws IOException, InterruptedException {
            Matcher matcher = COMPILE_SECONDS.matcher(metrics(COMPILE_METRICS));
            return matcher.find() ? Math.round(Double.parseDouble(matcher.group(1)) * 1000) : -1;
        }

        /** Its memory, read from the whole page or from {@link #MEMORY_METRICS}: the figures are the same. */
        Memory memory(boolean wholePage) throws IOException, InterruptedException {
            String metrics = metrics(wholePage ? "/metrics" : MEMORY_METRICS);
            return new Memory(sum(HEAP.matcher(metrics)), sum(DIRECT.matcher(metrics)), sum(NETTY_DIRECT.matcher(metrics)),
                    rss(process.pid()));
        }

        private static double sum(Matcher matcher) {
            double sum = 0;
            while (matcher.find()) {
                sum += Double.parseDouble(matcher.group(1));
            }
            return sum;
        }

        private static double rss(long pid) throws IOException {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("\\D+", "")) * 1024.0;
                }
            }
            return 0;
        }

        @Override
        public void close() throws InterruptedException {
            reader.close();
            process.close();
        }
    }
}
