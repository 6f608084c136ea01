package io.cpstream.cli;

import com.codahale.metrics.health.HealthCheck;
import com.codahale.metrics.health.HealthCheckRegistry;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsServer;
import io.cpstream.security.PkiException;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.cpstream.security.TlsSettings;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import javax.net.ssl.SSLContext;

/**
 * Where operators look at a daemon, on {@code --metrics-port}: {@code /metrics} (Prometheus text
 * format, from Micrometer) and {@code /health} (Dropwizard health checks as JSON; HTTP 503 when any is
 * unhealthy, or before the daemon has registered its checks). Every meter is also published over JMX (domain
 * {@code cpstream}) through Micrometer's JMX registry, which uses Dropwizard's JmxReporter. Port 0 turns the HTTP
 * endpoint off; the meters are still collected and on JMX.
 *
 * <p>Like every other channel of the daemon, the endpoint is mutual TLS 1.3 over the daemon's own certificate, key and
 * CA (read again when they change, so rotation needs no restart), and only certificates of role reader or admin may
 * read it ({@link MetricsAccess}); with {@code --insecure} it is plaintext and open, as the daemon's other channels.
 * {@link HttpServerLimits} bounds connections and the time each may take, and every exchange (TLS handshake
 * included) runs on a virtual thread of its own, so one stalled peer holds one connection, not the server.
 */
final class MetricsEndpoint implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(MetricsEndpoint.class.getName());
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
    private final ExecutorService exchanges;

    /**
     * Serves on {@code host:port} as {@code tls} says (port 0 serves nothing): HTTPS requiring a reader or admin
     * certificate, or plaintext for {@link TlsSettings#INSECURE}.
     */
    MetricsEndpoint(String host, int port, TlsSettings tls) throws IOException {
        registry.add(prometheus);
        registry.add(jmx);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        if (port == 0) {
            server = null;
            exchanges = null;
            return;
        }
        SSLContext context = null;
        if (!tls.insecure()) {
            try {
                // A material of its own over the daemon's files: it follows their rotation as the daemon's does.
                context = Tls.sockets(TlsMaterial.load(tls, null));
            } catch (PkiException e) {
                throw new IOException("TLS: " + e.getMessage(), e);
            }
        }
        HttpServerLimits.apply();
        try {
            if (context == null) {
                server = HttpServer.create(new InetSocketAddress(host, port), 16);
            } else {
                HttpsServer secure = HttpsServer.create(new InetSocketAddress(host, port), 16);
                secure.setHttpsConfigurator(MetricsAccess.configurator(context));
                server = secure;
            }
        } catch (IOException e) {
            throw new Errors.UserError("cannot serve metrics on " + host + ":" + port + ": " + e.getMessage()
                    + "; pick another metrics-port");
        }
        HttpContext metrics = server.createContext("/metrics", exchange -> respond(exchange, 200,
                "text/plain; version=0.0.4; charset=utf-8", prometheus.scrape()));
        HttpContext healthChecks = server.createContext("/health", exchange -> {
            SortedMap<String, HealthCheck.Result> results = health.runHealthChecks();
            // No checks yet: the daemon is still starting, which is not healthy.
            boolean healthy = !results.isEmpty() && results.values().stream().allMatch(HealthCheck.Result::isHealthy);
            respond(exchange, healthy ? 200 : 503, "application/json", JSON.writeValueAsString(render(healthy, results)) + "\n");
        });
        if (context != null) {
            MetricsAccess access = new MetricsAccess();
            metrics.getFilters().add(access);
            healthChecks.getFilters().add(access);
        } else {
            LOG.log(System.Logger.Level.WARNING, "metrics: --insecure: /metrics and /health on {0}:{1} are plaintext "
                    + "and open to anyone who reaches them", host, String.valueOf(port()));
        }
        // Not the default (the dispatcher thread itself), on which one peer stalled in its handshake or request
        // would hold every other connection until HttpServerLimits closes it. At most maxConnections at a time.
        exchanges = Executors.newVirtualThreadPerTaskExecutor();
        server.setExecutor(exchanges);
        server.start();
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
            exchanges.shutdownNow();
        }
        health.shutdown();
        registry.close();
        prometheus.close();
        jmx.close();
    }
}
