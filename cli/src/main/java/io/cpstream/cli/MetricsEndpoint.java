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
import io.micrometer.core.instrument.FunctionCounter;
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
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
 * <p>{@code /metrics?name[]=a&name[]=b} (the brackets sent as such or as {@code %5B%5D}) serves only the metric
 * families named, as Prometheus's own client libraries do: a family's name selects the whole family, and so does the
 * name of one of its samples ({@code _total}, {@code _created}, {@code _bucket}, {@code _count}, {@code _sum}), which
 * is also what a counter's {@code # TYPE} line shows (with {@code _total}). A reader that wants a few figures once a
 * second then costs the daemon those families, not the whole page, which with many VMs holds a histogram per VM. At
 * most {@value #MAX_NAMES} names of at most {@value #MAX_NAME_LENGTH} characters, else 400.
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
    /** The Prometheus text format, version 0.0.4: what {@code /metrics} serves, whole or filtered. */
    private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
    /** The query parameter that names a family to serve, as Prometheus's client libraries read it. */
    private static final String NAME_PARAMETER = "name[]";
    /**
     * Bounds on a filtered scrape's names, so a request costs a bounded set and a bounded answer: 64 names of 200
     * characters, {@code %5B%5D} and all, still fit the 16 KiB {@link HttpServerLimits} allows a request line.
     */
    static final int MAX_NAMES = 64;
    static final int MAX_NAME_LENGTH = 200;
    /**
     * The suffixes a sample's name adds to its family's in the text format. Micrometer matches family names only, so
     * a sample name is cut back to its family's, which is what Prometheus's Java client serves for it.
     */
    private static final List<String> SAMPLE_SUFFIXES = List.of("_total", "_created", "_bucket", "_count", "_sum");

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
        compileTime(registry);
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
        HttpContext metrics = server.createContext("/metrics", this::scrape);
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

    /** The whole page, or only the families the request's {@code name[]} parameters name. */
    private void scrape(HttpExchange exchange) throws IOException {
        Set<String> families;
        try {
            families = requestedFamilies(exchange.getRequestURI().getRawQuery());
        } catch (IllegalArgumentException e) {
            respond(exchange, 400, "text/plain; charset=utf-8", e.getMessage() + "\n");
            return;
        }
        respond(exchange, 200, PROMETHEUS_TEXT, families == null ? prometheus.scrape(PROMETHEUS_TEXT)
                : prometheus.scrape(PROMETHEUS_TEXT, families));
    }

    /**
     * The family names {@code query} (raw, as on the request line) asks for with {@code name[]}, each sample name with
     * its family's beside it; null when it asks for none, which serves the whole page. Other parameters are ignored,
     * as Prometheus's clients do.
     *
     * @throws IllegalArgumentException with a message for the client: too many names, an empty or too long one, or a
     *     malformed {@code %} escape
     */
    static Set<String> requestedFamilies(String query) {
        if (query == null || query.isEmpty()) {
            return null;
        }
        Set<String> families = new HashSet<>();
        int names = 0;
        for (String parameter : query.split("&")) {
            int equals = parameter.indexOf('=');
            if (!namesAFamily(equals < 0 ? parameter : parameter.substring(0, equals))) {
                continue;
            }
            if (++names > MAX_NAMES) {
                throw new IllegalArgumentException("at most " + MAX_NAMES + " " + NAME_PARAMETER + " parameters");
            }
            String name;
            try {
                name = equals < 0 ? "" : URLDecoder.decode(parameter.substring(equals + 1), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                // The JDK's server refuses a request line with a malformed escape before it gets here; should it
                // not, still a 400, and with a message of our own: URLDecoder's quotes the client's text.
                throw new IllegalArgumentException("a " + NAME_PARAMETER + " with a malformed %-escape");
            }
            if (name.isEmpty() || name.length() > MAX_NAME_LENGTH) {
                throw new IllegalArgumentException("each " + NAME_PARAMETER + " is a metric name of 1 to "
                        + MAX_NAME_LENGTH + " characters");
            }
            families.add(name);
            for (String suffix : SAMPLE_SUFFIXES) {
                if (name.length() > suffix.length() && name.endsWith(suffix)) {
                    families.add(name.substring(0, name.length() - suffix.length()));
                }
            }
        }
        return names == 0 ? null : families;
    }

    /** Whether a parameter's raw {@code key} is {@code name[]}, its brackets escaped or not. */
    private static boolean namesAFamily(String key) {
        try {
            return URLDecoder.decode(key, StandardCharsets.UTF_8).equals(NAME_PARAMETER);
        } catch (IllegalArgumentException e) {
            return false; // a malformed key is some other parameter, and those are ignored
        }
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

    /**
     * The JIT's compile time so far, in seconds (what the bench waits on before its window). Micrometer's own binder
     * names it in milliseconds, which promtool refuses as an abbreviated unit.
     */
    private static void compileTime(MeterRegistry registry) {
        CompilationMXBean compiler = ManagementFactory.getCompilationMXBean();
        if (compiler == null || !compiler.isCompilationTimeMonitoringSupported()) {
            return;
        }
        FunctionCounter.builder("jvm.compilation.time", compiler,
                        c -> c.getTotalCompilationTime() / 1000.0)
                .description("Time the JIT compiler spent compiling, summed over its threads")
                .baseUnit("seconds").register(registry);
    }
}
