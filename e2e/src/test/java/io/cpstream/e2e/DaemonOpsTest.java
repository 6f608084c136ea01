package io.cpstream.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.cpstream.cli.CliRun;
import io.cpstream.cli.TestDaemons;
import io.cpstream.security.Pki;
import io.cpstream.security.Role;
import io.cpstream.security.TlsSettings;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * An agent and a collector running as daemons over mutual TLS, looked at the way operators do: their /metrics pass
 * promtool's lint, a real Prometheus scrapes them over mutual TLS with a reader certificate, as the shipped
 * deploy/prometheus/prometheus.yml says, and every query of the Grafana dashboards returns data, /health answers JSON
 * per check (503 when unhealthy), an agent's certificate and plaintext get no metrics, and {@code status --once}
 * shows the VM.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DaemonOpsTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final YAMLMapper YAML = new YAMLMapper();
    private static final String VM = "ops-1";
    static final Path DASHBOARDS = Path.of(System.getProperty("user.dir")).resolveSibling("grafana").resolve("dashboards");
    static final Path SHIPPED_PROMETHEUS = Path.of(System.getProperty("user.dir")).resolveSibling("deploy")
            .resolve("prometheus").resolve("prometheus.yml");
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
    /** The run's CA: the daemons' identities, an admin, and the reader Prometheus scrapes with. */
    private Path pki;
    private Pki.Throwaway identities;
    private TlsSettings reader;
    private String collector;
    private int collectorMetrics;
    private int agentMetrics;

    @BeforeAll
    void startDaemons() throws Exception {
        daemons = new TestDaemons(dir);
        pki = dir.resolve("pki");
        identities = Pki.throwaway(pki, "*");
        // Named as deploy/prometheus/prometheus.yml tells operators to issue it.
        Pki.issue(pki, "prometheus", Role.READER, List.of(), Duration.ofDays(1));
        reader = Pki.settings(pki, "prometheus");
        collector = "127.0.0.1:" + TestDaemons.freePort();
        collectorMetrics = TestDaemons.freePort();
        agentMetrics = TestDaemons.freePort();
        // The collector takes its settings from a config file, as under systemd.
        Path config = dir.resolve("collector.yaml");
        TlsSettings tls = identities.collector();
        Files.writeString(config, "listen: " + collector + "\ndata-dir: " + dir.resolve("data") + "\nmetrics-port: "
                + collectorMetrics + "\ntls-cert: " + tls.cert() + "\ntls-key: " + tls.key() + "\ntls-ca: " + tls.ca()
                + "\n");
        daemons.cpstream("collector", "collector", "--config", config.toString());
        daemons.cpstream("agent", agent("--collector", collector, "--vm", VM, "--source", "sim:mem=8m,rate=20000",
                "--metrics-port", String.valueOf(agentMetrics)));
        await("agent healthy: " + daemons.logText("agent")).atMost(Duration.ofSeconds(180))
                .pollInterval(Duration.ofMillis(500))
                .until(() -> TestDaemons.get(agentUrl("/health"), reader).status() == 200);
    }

    @AfterAll
    void stopDaemons() throws Exception {
        daemons.close();
    }

    @Test
    void scrapesPassPromtoolAndCarryEveryMeter() throws Exception {
        String agent = TestDaemons.get(agentUrl("/metrics"), reader).body();
        String standby = TestDaemons.get(collectorUrl("/metrics"), reader).body();
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
    void onlyReaderAndAdminCertificatesGetMetrics() {
        for (String url : List.of(agentUrl("/metrics"), collectorUrl("/health"))) {
            assertEquals(200, TestDaemons.get(url, identities.admin()).status(), url);
            TestDaemons.Http agent = TestDaemons.get(url, identities.agent());
            assertEquals(403, agent.status(), url + ": " + agent.body());
            TestDaemons.Http plaintext = TestDaemons.get(url.replace("https://", "http://"));
            assertEquals(-1, plaintext.status(), url + " in plaintext: " + plaintext.body());
        }
    }

    @Test
    void healthIsJsonWithEveryCheck() throws Exception {
        JsonNode agent = JSON.readTree(TestDaemons.get(agentUrl("/health"), reader).body());
        assertTrue(agent.get("healthy").asBoolean(), agent.toString());
        for (String check : List.of("connected", "lag", "lease")) {
            assertTrue(agent.get("checks").get(check).get("healthy").asBoolean(), check + ": " + agent);
        }
        TestDaemons.Http standby = TestDaemons.get(collectorUrl("/health"), identities.admin());
        JsonNode checks = JSON.readTree(standby.body()).get("checks");
        for (String check : List.of("connected", "lag", "data-dir")) {
            assertTrue(checks.has(check), check + ": " + standby.body());
        }

        // An agent whose collector is not there: 503, and the check says why.
        int port = TestDaemons.freePort();
        daemons.cpstream("lonely-agent", agent("--collector", "127.0.0.1:" + TestDaemons.freePort(), "--vm", "lonely",
                "--source", "sim:mem=4m", "--metrics-port", String.valueOf(port)));
        TestDaemons.Http lonely = await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500))
                .until(() -> TestDaemons.get("https://127.0.0.1:" + port + "/health", reader),
                        http -> http.status() != -1 && http.body().contains("\"connected\""));
        assertEquals(503, lonely.status(), lonely.body());
        JsonNode connected = JSON.readTree(lonely.body()).get("checks").get("connected");
        assertTrue(!connected.get("healthy").asBoolean() && connected.get("message").asText().contains("not connected"),
                lonely.body());
    }

    @Test
    void statusOnceShowsEveryVmWithEpochLagStunAndThroughput() {
        CliRun status = CliRun.of("status", "--tls-cert", reader.cert().toString(), "--tls-key", reader.key().toString(),
                "--tls-ca", reader.ca().toString(), "--collector", collector, "--once");
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
        Files.writeString(config, prometheusConfig());
        daemons.start("prometheus", new ProcessBuilder(prometheus.toString(), "--config.file=" + config,
                "--storage.tsdb.path=" + dir.resolve("tsdb"), "--web.listen-address=127.0.0.1:" + port));
        String api = "http://127.0.0.1:" + port;
        await("prometheus ready: " + daemons.logText("prometheus")).atMost(Duration.ofSeconds(120))
                .pollInterval(Duration.ofMillis(500)).until(() -> TestDaemons.get(api + "/-/ready").status() == 200);
        // Both targets scraped over mutual TLS: up, and no scrape error (a refused handshake, a 403).
        String[] targets = new String[1];
        try {
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofSeconds(1)).until(() -> {
                targets[0] = TestDaemons.get(api + "/api/v1/targets?state=active").body();
                JsonNode active = JSON.readTree(targets[0]).path("data").path("activeTargets");
                long up = 0;
                for (JsonNode target : active) {
                    up += target.path("health").asText().equals("up") ? 1 : 0;
                }
                return active.size() == 2 && up == 2;
            });
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("Prometheus's targets are not both up (lastError says why): " + targets[0], e);
        }
        assertTrue(targets[0].contains("\"scrapeUrl\":\"https://"), targets[0]);

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

    /**
     * The shipped deploy/prometheus/prometheus.yml, as an operator adapts it to this run: its targets, scraped every
     * second, its certificate files in the run's CA directory (the same file names), and {@code server_name}: the
     * daemons' certificates name the identities "collector" and "agent", not 127.0.0.1. Everything else (jobs, path,
     * scheme, TLS version) as shipped.
     */
    private String prometheusConfig() throws Exception {
        ObjectNode config = (ObjectNode) YAML.readTree(SHIPPED_PROMETHEUS.toFile());
        ((ObjectNode) config.get("global")).put("scrape_interval", "1s").put("evaluation_interval", "1s");
        Map<String, Integer> ports = Map.of("cpstream-collector", collectorMetrics, "cpstream-agent", agentMetrics);
        Map<String, String> names = Map.of("cpstream-collector", "collector", "cpstream-agent", "agent");
        List<String> jobs = new ArrayList<>();
        for (JsonNode job : config.get("scrape_configs")) {
            String name = job.get("job_name").asText();
            jobs.add(name);
            assertEquals("https", job.path("scheme").asText(), name + " scrapes over TLS");
            ObjectNode tls = (ObjectNode) job.get("tls_config");
            for (String file : List.of("ca_file", "cert_file", "key_file")) {
                tls.put(file, pki.resolve(Path.of(tls.get(file).asText()).getFileName()).toString());
            }
            tls.put("server_name", names.get(name));
            ((ObjectNode) job.get("static_configs").get(0)).putArray("targets").add("127.0.0.1:" + ports.get(name));
        }
        assertEquals(List.of("cpstream-collector", "cpstream-agent"), jobs);
        return YAML.writeValueAsString(config);
    }

    /** {@code agent ARGS} over mutual TLS with the run's agent certificate. */
    private String[] agent(String... args) {
        TlsSettings tls = identities.agent();
        List<String> all = new ArrayList<>(List.of("agent", "--tls-cert", tls.cert().toString(), "--tls-key",
                tls.key().toString(), "--tls-ca", tls.ca().toString()));
        all.addAll(List.of(args));
        return all.toArray(String[]::new);
    }

    private String agentUrl(String path) {
        return "https://127.0.0.1:" + agentMetrics + path;
    }

    private String collectorUrl(String path) {
        return "https://127.0.0.1:" + collectorMetrics + path;
    }
}
