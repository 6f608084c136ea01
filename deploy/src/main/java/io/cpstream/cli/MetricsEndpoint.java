package io.cpstream.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * {@code /metrics} in Prometheus text format and {@code /health} for a daemon, on {@code --metrics-port}.
 * Port 0 turns the endpoint off (the registry still collects).
 */
final class MetricsEndpoint implements AutoCloseable {

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final HttpServer server;

    /** @param healthy returns null when healthy, else what is wrong */
    MetricsEndpoint(int port, Supplier<String> healthy) throws IOException {
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        if (port == 0) {
            server = null;
            return;
        }
        try {
            server = HttpServer.create(new InetSocketAddress(port), 16);
        } catch (IOException e) {
            throw new Errors.UserError("cannot serve metrics on port " + port + ": " + e.getMessage()
                    + "; pick another --metrics-port");
        }
        server.createContext("/metrics", exchange -> respond(exchange, 200,
                "text/plain; version=0.0.4; charset=utf-8", registry.scrape()));
        server.createContext("/health", exchange -> {
            String problem = healthy.get();
            respond(exchange, problem == null ? 200 : 503, "text/plain; charset=utf-8",
                    problem == null ? "ok\n" : problem + "\n");
        });
        server.setExecutor(null);
        server.start();
    }

    PrometheusMeterRegistry registry() {
        return registry;
    }

    int port() {
        return server == null ? 0 : server.getAddress().getPort();
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
        registry.close();
    }
}
