package io.cpstream.cli;

import com.codahale.metrics.health.HealthCheck;
import com.codahale.metrics.health.HealthCheckRegistry;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.jmx.JmxConfig;
import io.micrometer.jmx.JmxMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SortedMap;
import java.util.function.Supplier;

/**
 * Where operators look at a daemon, on {@code --metrics-port}: {@code /metrics} (Prometheus text
 * format, from Micrometer) and {@code /health} (Dropwizard health checks as JSON; HTTP 503 when any is
 * unhealthy, or before the daemon has registered its checks). Every meter is also published over JMX (domain {@code cpstream}) through Micrometer's
 * JMX registry, which uses Dropwizard's JmxReporter. Port 0 turns the HTTP endpoint off; the meters
 * are still collected and on JMX.
 */
final class MetricsEndpoint implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final JmxMeterRegistry jmx = new JmxMeterRegistry(new JmxConfig() {
        @Override
        public String get(String key) {
            return null;
        }

        @Override
        public String domain() {
            return "cpstream";
        }
    }, Clock.SYSTEM);
    private final CompositeMeterRegistry registry = new CompositeMeterRegistry();
    private final HealthCheckRegistry health = new HealthCheckRegistry();
    private final HttpServer server;

    /** On all interfaces: for tests and tools. Daemons name the host ({@code --metrics-listen}). */
    MetricsEndpoint(int port) throws IOException {
        this("0.0.0.0", port);
    }

    /** Serves on {@code host:port}; port 0 serves nothing. */
    MetricsEndpoint(String host, int port) throws IOException {
        registry.add(prometheus);
        registry.add(jmx);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        if (port == 0) {
            server = null;
            return;
        }
        try {
            server = HttpServer.create(new InetSocketAddress(host, port), 16);
        } catch (IOException e) {
            throw new Errors.UserError("cannot serve metrics on " + host + ":" + port + ": " + e.getMessage()
                    + "; pick another metrics-port");
        }
        server.createContext("/metrics", exchange -> respond(exchange, 200,
                "text/plain; version=0.0.4; charset=utf-8", prometheus.scrape()));
        server.createContext("/health", exchange -> {
            SortedMap<String, HealthCheck.Result> results = health.runHealthChecks();
            // No checks yet: the daemon is still starting, which is not healthy.
            boolean healthy = !results.isEmpty() && results.values().stream().allMatch(HealthCheck.Result::isHealthy);
            respond(exchange, healthy ? 200 : 503, "application/json", JSON.writeValueAsString(render(healthy, results)) + "\n");
        });
        server.setExecutor(null);
        server.start();
    }

    /** The older single-check form: {@code healthy} returns null when healthy, else what is wrong. */
    MetricsEndpoint(int port, Supplier<String> healthy) throws IOException {
        this(port);
        check("daemon", () -> {
            String problem = healthy.get();
            return problem == null ? HealthCheck.Result.healthy() : HealthCheck.Result.unhealthy(problem);
        });
    }

    /** The registry daemons register their meters in: Prometheus and JMX. */
    MeterRegistry registry() {
        return registry;
    }

    /** Adds a health check to {@code /health}; {@code check} must be quick and must not block. */
    void check(String name, Supplier<HealthCheck.Result> check) {
        health.register(name, new HealthCheck() {
            @Override
            protected Result check() {
                return check.get();
            }
        });
    }

    /** Runs every health check now. */
    SortedMap<String, HealthCheck.Result> runHealthChecks() {
        return health.runHealthChecks();
    }

    int port() {
        return server == null ? 0 : server.getAddress().getPort();
    }

    private static Map<String, Object> render(boolean healthy, SortedMap<String, HealthCheck.Result> results) {
        Map<String, Object> checks = new LinkedHashMap<>();
        results.forEach((name, result) -> {
            Map<String, Object> check = new LinkedHashMap<>();
            check.put("healthy", result.isHealthy());
            check.put("message", result.getMessage());
            if (result.getError() != null) {
                check.put("error", Errors.describe(result.getError()));
            }
            check.put("timestamp", result.getTimestamp());
            checks.put(name, check);
        });
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("healthy", healthy);
        body.put("checks", checks);
        return body;
    }

    private static void respond(HttpExchange exchange, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", type);
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        if (server != null) {
            server.stop(0);
        }
        health.shutdown();
        registry.close();
        prometheus.close();
        jmx.close();
    }
}
