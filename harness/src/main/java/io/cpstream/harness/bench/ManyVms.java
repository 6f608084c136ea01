package io.cpstream.harness.bench;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.AgentStats;
import io.cpstream.harness.ChaosFinale;
import io.cpstream.harness.Directories;
import io.cpstream.harness.HarnessException;
import io.cpstream.harness.chaos.DaemonProcess;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Many VMs on one collector: the collector is a process of its own (started with this JVM's flags, which the launcher
 * set), and the agents run in this process, one {@link Agent} with a guest of its own per VM, each exactly as a
 * daemon would run it. First one VM alone is measured, then {@code vms} at once, in the same invocation: per-VM lag
 * p50/p99 (their median and the worst), checkpoints/s summed, the collector's heap, direct memory and RSS, and how long
 * its {@code /metrics} took to answer while it carried them.
 */
final class ManyVms {

    private static final Duration PATIENCE = Duration.ofSeconds(120);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private static final Pattern HEAP = Pattern.compile("^jvm_memory_used_bytes\\{[^}]*area=\"heap\"[^}]*} (\\S+)$",
            Pattern.MULTILINE);
    private static final Pattern DIRECT = Pattern.compile("^jvm_buffer_memory_used_bytes\\{[^}]*id=\"direct\"[^}]*} (\\S+)$",
            Pattern.MULTILINE);

    private ManyVms() {
    }

    static Map<String, Object> run(BenchSettings settings, AgentConfig config, int vms) throws Exception {
        if (vms < 1) {
            throw new IllegalArgumentException("--vms must be at least 1");
        }
        Path work = Files.createTempDirectory("cpstream-vms-");
        try (Collector collector = Collector.start(work)) {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("vms", vms);
            settings.out().printf("cpstream bench: %s, one VM alone, then %d VMs on one collector (pid %d)%n",
                    settings.source(), vms, collector.process.pid());
            Phase single = measure(settings, config, collector, "single", 1);
            result.put("single_vm_checkpoints_per_s", Figures.round(single.checkpointsPerSecond()));
            result.put("single_vm_lag_ms_p50", Figures.round(single.lagP50Median()));
            result.put("single_vm_lag_ms_p99", Figures.round(single.lagP99Worst()));
            Phase many = measure(settings, config, collector, "vm", vms);
            result.put("checkpoints_per_s", Figures.round(many.checkpointsPerSecond()));
            result.put("vm_checkpoints_per_s_min", Figures.round(many.slowestCheckpointsPerSecond()));
            result.put("vm_lag_ms_p50", Figures.round(many.lagP50Median()));
            result.put("vm_lag_ms_p99_median", Figures.round(many.lagP99Median()));
            result.put("vm_lag_ms_p99_worst", Figures.round(many.lagP99Worst()));
            result.put("lag_p99_over_single", Figures.ratio(many.lagP99Worst(), single.lagP99Worst()));
            result.put("collector_heap_mb", Figures.round(many.memory.heapBytes() / 1e6));
            result.put("collector_direct_mb", Figures.round(many.memory.directBytes() / 1e6));
            result.put("collector_rss_mb", Figures.round(many.memory.rssBytes() / 1e6));
            result.put("collector_rss_per_vm_mb", Figures.round(many.memory.rssBytes() / 1e6 / (vms + 1)));
            result.put("metrics_scrape_ms_max", Figures.round(many.scrapeMillisMax));
            return result;
        } finally {
            Directories.deleteTree(work);
        }
    }

    /** What one set of VMs did in the measured window, and the collector's state at its end. */
    private record Phase(List<AgentStats.Snapshot> stats, double seconds, Memory memory, double scrapeMillisMax) {
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

    /** Starts {@code count} agents named {@code prefix-i}, warms them up, measures the window, stops them. */
    private static Phase measure(BenchSettings settings, AgentConfig config, Collector collector, String prefix,
                                 int count) throws Exception {
        List<MemorySource> guests = new ArrayList<>();
        List<Agent> agents = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                MemorySource guest = MemorySources.open(settings.source());
                guests.add(guest);
                agents.add(new Agent(config.withCollector("127.0.0.1:" + collector.port)
                        .withVmId(String.format("%s-%03d", prefix, i)), guest, new SimpleMeterRegistry()));
            }
            agents.forEach(Agent::start);
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            for (Agent agent : agents) {
                while (agent.acknowledgedEpoch() == 0) {
                    if (agent.awaitTermination(Duration.ofMillis(20))) {
                        throw new HarnessException("an agent stopped: " + Agent.describe(agent.failure()));
                    }
                    if (System.nanoTime() > deadline) {
                        throw new HarnessException("not every VM committed a first epoch within " + PATIENCE.toSeconds()
                                + " s (" + count + " VMs)");
                    }
                }
            }
            Thread.sleep(settings.warmupSeconds() * 1000L);
            agents.forEach(Agent::resetStats);
            long start = System.nanoTime();
            long end = start + settings.seconds() * 1_000_000_000L;
            double scrapeMax = 0;
            while (System.nanoTime() < end) {
                Thread.sleep(Math.max(1, Math.min(1000, (end - System.nanoTime()) / 1_000_000)));
                long scrapeStart = System.nanoTime();
                collector.metrics();
                scrapeMax = Math.max(scrapeMax, (System.nanoTime() - scrapeStart) / 1e6);
                for (Agent agent : agents) {
                    if (agent.failure() != null) {
                        throw new HarnessException("an agent stopped: " + Agent.describe(agent.failure()));
                    }
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            List<AgentStats.Snapshot> stats = agents.stream().map(Agent::stats).toList();
            return new Phase(stats, seconds, collector.memory(), scrapeMax);
        } finally {
            agents.forEach(Agent::close);
            guests.forEach(MemorySource::close);
        }
    }

    /** The collector's memory: heap and direct from its own metrics, RSS from the kernel. */
    private record Memory(double heapBytes, double directBytes, double rssBytes) {
    }

    /** A collector process of its own, so its memory is its own. */
    private record Collector(DaemonProcess process, int port, int metricsPort) implements AutoCloseable {

        static Collector start(Path work) throws Exception {
            int port = ChaosFinale.freePort();
            int metricsPort = ChaosFinale.freePort();
            List<String> flags = ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                    .filter(flag -> (flag.startsWith("-XX:") && !flag.contains("FlightRecording"))
                            || flag.startsWith("--enable-native-access"))
                    .toList();
            DaemonProcess process = DaemonProcess.start(work.resolve("collector.log"), flags, "io.cpstream.cli.Main",
                    List.of("collector", "--insecure", "--listen", "127.0.0.1:" + port, "--data-dir",
                            work.resolve("data").toString(), "--metrics-port", String.valueOf(metricsPort)));
            Collector collector = new Collector(process, port, metricsPort);
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            while (true) {
                try {
                    collector.metrics();
                    return collector;
                } catch (IOException e) {
                    if (!process.alive() || System.nanoTime() > deadline) {
                        process.close();
                        throw new HarnessException("the collector did not start: see " + process.log());
                    }
                    Thread.sleep(100);
                }
            }
        }

        String metrics() throws IOException, InterruptedException {
            HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + metricsPort + "/metrics")).timeout(Duration.ofSeconds(30)).build(),
                    HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 200) {
                throw new IOException("/metrics answered " + response.statusCode());
            }
            return response.body();
        }

        Memory memory() throws IOException, InterruptedException {
            String metrics = metrics();
            return new Memory(sum(HEAP.matcher(metrics)), sum(DIRECT.matcher(metrics)), rss(process.pid()));
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
            process.close();
        }
    }
}
