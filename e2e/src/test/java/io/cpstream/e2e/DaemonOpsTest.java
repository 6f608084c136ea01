package io.cpstream.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cpstream.cli.CliRun;
import io.cpstream.cli.TestDaemons;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * An agent and a collector running as daemons, looked at the way operators do: their /metrics pass
 * promtool's lint, a real Prometheus scrapes them and every query of the Grafana dashboards returns
 * data, /health answers JSON per check (503 when unhealthy), and {@code status --once} shows the VM.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DaemonOpsTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String VM = "ops-1";
    static final Path DASHBOARDS = Path.of(System.getProperty("user.dir")).resolveSibling("grafana").resolve("dashboards");
    /** Meters that must exist from the start, at 0 until their feature counts (see grafana/README.md). */
    private static final List<String> AGENT_METERS = List.of("cpstream_agent_pause_seconds_bucket",
            "cpstream_agent_lag_seconds_bucket", "cpstream_agent_committed_epoch", "cpstream_agent_dirty_pages_sum",
            "cpstream_agent_pages_encoded_total{encoding=\"delta\"", "cpstream_agent_raw_bytes_total",
            "cpstream_agent_wire_bytes_total", "cpstream_agent_delta_candidates_total",
            "cpstream_agent_delta_candidate_hits_total", "cpstream_agent_resyncs_total",
            "cpstream_agent_checksum_resends_total", "cpstream_agent_output_pending_bytes",
            "cpstream_agent_fencing_epoch", "cpstream_agent_lease_held", "cpstream_agent_connected");
    private static final List<String> COLLECTOR_METERS = List.of("cpstream_collector_apply_seconds_bucket",
            "cpstream_collector_commit_lag_seconds_bucket", "cpstream_collector_committed_epoch",
            "cpstream_collector_fencing_epoch", "cpstream_collector_promotions_total",
            "cpstream_collector_checksum_mismatches_total", "cpstream_collector_resyncs_total",
            "cpstream_collector_standby_age_seconds");

    @TempDir
    static Path dir;

    private TestDaemons daemons;
    private String collector;
    private int collectorMetrics;
    private int agentMetrics;

    @BeforeAll
    void startDaemons() throws Exception {
        daemons = new TestDaemons(dir);
        collector = "127.0.0.1:" + TestDaemons.freePort();
        collectorMetrics = TestDaemons.freePort();
        agentMetrics = TestDaemons.freePort();
        // The collector takes its settings from a config file, as under systemd.
        Path config = dir.resolve("collector.yaml");
        Files.writeString(config, "listen: " + collector + "\ndata-dir: " + dir.resolve("data") + "\nmetrics-port: "
                + collectorMetrics + "\ninsecure: true\n");
        daemons.cpstream("collector", "collector", "--config", config.toString());
        daemons.cpstream("agent", "agent", "--insecure", "--collector", collector, "--vm", VM, "--source", "sim:mem=8m,rate=20000",
                "--metrics-port", String.valueOf(agentMetrics));
        await("agent healthy: " + daemons.logText("agent")).atMost(Duration.ofSeconds(180))
                .pollInterval(Duration.ofMillis(500))
                .until(() -> TestDaemons.get(agentUrl("/health")).status() == 200);
    }

    @AfterAll
    void stopDaemons() throws Exception {
        daemons.close();
    }

    @Test
    void scrapesPassPromtoolAndCarryEveryMeter() throws Exception {
        String agent = TestDaemons.get(agentUrl("/metrics")).body();
        String standby = TestDaemons.get("http://127.0.0.1:" + collectorMetrics + "/metrics").body();
        for (String meter : AGENT_METERS) {
            assertTrue(agent.contains(meter + (meter.contains("{") ? "" : "{")) && agent.contains("vm=\"" + VM + "\""),
                    "agent exports " + meter);
        }
        for (String meter : COLLECTOR_METERS) {
            assertTrue(standby.contains(meter + "{"), "collector exports " + meter);
        }
        Path promtool = TestDaemons.tool("promtool");
        assumeTrue(promtool != null, "promtool is not installed (Debian package prometheus; ./test installs it)");
        for (String scrape : List.of(agent, standby)) {
            TestDaemons.Http lint = TestDaemons.run(List.of(promtool.toString(), "check", "metrics"), scrape,
                    Duration.ofSeconds(60));
            assertEquals(0, lint.status(), lint.body());
            assertEquals("", lint.body().strip(), "promtool has no complaints");
        }
    }

    @Test
    void healthIsJsonWithEveryCheck() throws Exception {
        JsonNode agent = JSON.readTree(TestDaemons.get(agentUrl("/health")).body());
        assertTrue(agent.get("healthy").asBoolean(), agent.toString());
        for (String check : List.of("connected", "lag", "lease")) {
            assertTrue(agent.get("checks").get(check).get("healthy").asBoolean(), check + ": " + agent);
        }
        TestDaemons.Http standby = TestDaemons.get("http://127.0.0.1:" + collectorMetrics + "/health");
        JsonNode checks = JSON.readTree(standby.body()).get("checks");
        for (String check : List.of("connected", "lag", "data-dir")) {
            assertTrue(checks.has(check), check + ": " + standby.body());
        }

        // An agent whose collector is not there: 503, and the check says why.
        int port = TestDaemons.freePort();
        daemons.cpstream("lonely-agent", "agent", "--insecure", "--collector", "127.0.0.1:" + TestDaemons.freePort(), "--vm", "lonely",
                "--source", "sim:mem=4m", "--metrics-port", String.valueOf(port));
        TestDaemons.Http lonely = await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500))
                .until(() -> TestDaemons.get("http://127.0.0.1:" + port + "/health"),
                        http -> http.status() != -1 && http.body().contains("\"connected\""));
        assertEquals(503, lonely.status(), lonely.body());
        JsonNode connected = JSON.readTree(lonely.body()).get("checks").get("connected");
        assertTrue(!connected.get("healthy").asBoolean() && connected.get("message").asText().contains("not connected"),
                lonely.body());
    }

    @Test
    void statusOnceShowsEveryVmWithEpochLagStunAndThroughput() {
        CliRun status = CliRun.of("status", "--insecure", "--collector", collector, "--once");
        assertEquals(0, status.code(), status.err());
        String row = status.out().lines().filter(line -> line.startsWith(VM)).findFirst().orElseThrow(
                () -> new AssertionError("no row for " + VM + ":\n" + status.out()));
        String[] cells = row.trim().split("\\s+");
        assertEquals("replicating", cells[1], row);
        assertTrue(Long.parseLong(cells[2]) > 0, "epoch: " + row);
        assertTrue(cells[3].endsWith("ms") && cells[4].endsWith("ms"), "lag and stun: " + row);
        assertTrue(Double.parseDouble(cells[5]) > 0, "checkpoints per second: " + row);
        assertTrue(status.out().contains("CKPT/S") && status.out().contains("STUN"), status.out());
    }

    @Test
    void prometheusAnswersEveryDashboardQuery() throws Exception {
        Path prometheus = TestDaemons.tool("prometheus");
        assumeTrue(prometheus != null, "prometheus is not installed (Debian package prometheus; ./test installs it)");
        int port = TestDaemons.freePort();
        Path config = dir.resolve("prometheus.yml");
        Files.writeString(config, """
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                scrape_configs:
                  - job_name: cpstream-collector
                    static_configs: [{targets: ['127.0.0.1:%d']}]
                  - job_name: cpstream-agent
                    static_configs: [{targets: ['127.0.0.1:%d']}]
                """.formatted(collectorMetrics, agentMetrics));
        daemons.start("prometheus", new ProcessBuilder(prometheus.toString(), "--config.file=" + config,
                "--storage.tsdb.path=" + dir.resolve("tsdb"), "--web.listen-address=127.0.0.1:" + port));
        String api = "http://127.0.0.1:" + port;
        await("prometheus ready: " + daemons.logText("prometheus")).atMost(Duration.ofSeconds(120))
                .pollInterval(Duration.ofMillis(500)).until(() -> TestDaemons.get(api + "/-/ready").status() == 200);

        Map<String, String> queries = dashboardQueries();
        assertTrue(queries.size() >= 30, "the dashboards have their panels: " + queries.keySet());
        Map<String, String> empty = new LinkedHashMap<>();
        await().atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofSeconds(2)).until(() -> {
            empty.clear();
            for (Map.Entry<String, String> query : queries.entrySet()) {
                TestDaemons.Http answer = TestDaemons.get(api + "/api/v1/query?query="
                        + URLEncoder.encode(query.getValue(), StandardCharsets.UTF_8));
                JsonNode body = JSON.readTree(answer.body());
                if (answer.status() != 200 || !body.get("status").asText().equals("success")
                        || body.get("data").get("result").isEmpty()) {
                    empty.put(query.getKey(), query.getValue() + " -> " + answer.body());
                }
            }
            return empty.isEmpty();
        });
        assertEquals(Map.of(), empty, "every dashboard query returns data");
        // The VM variable's values come from this series; the VM must be among them.
        JsonNode vms = JSON.readTree(TestDaemons.get(api + "/api/v1/label/vm/values").body()).get("data");
        assertTrue(vms.toString().contains(VM), vms.toString());
    }

    /** Every PromQL target of every dashboard, with Grafana's variables filled in: panel title -> query. */
    static Map<String, String> dashboardQueries() throws Exception {
        Map<String, String> queries = new LinkedHashMap<>();
        List<Path> files;
        try (var list = Files.list(DASHBOARDS)) {
            files = list.filter(path -> path.toString().endsWith(".json")).sorted().toList();
        }
        for (Path file : files) {
            JsonNode dashboard = JSON.readTree(file.toFile());
            List<JsonNode> panels = new ArrayList<>();
            dashboard.get("panels").forEach(panels::add);
            for (JsonNode panel : panels) {
                for (JsonNode target : panel.get("targets")) {
                    String expr = target.get("expr").asText()
                            .replace("$__rate_interval", "15s").replace("$__range", "5m").replace("$vm", VM);
                    queries.put(file.getFileName() + " / " + panel.get("title").asText() + " / "
                            + target.get("refId").asText(), expr);
                }
            }
        }
        return queries;
    }

    private String agentUrl(String path) {
        return "http://127.0.0.1:" + agentMetrics + path;
    }
}
