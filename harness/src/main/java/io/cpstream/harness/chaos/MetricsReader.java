package io.cpstream.harness.chaos;

import io.cpstream.security.PkiException;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.cpstream.security.TlsSettings;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.StringJoiner;

/**
 * Reads a daemon's {@code /metrics} or {@code /health} on loopback the way Prometheus does: over mutual TLS with
 * {@code identity}, which must be of role reader or admin (the daemons answer any other role 403), or over plain
 * HTTP when {@code identity} is {@link TlsSettings#INSECURE} (a daemon run with {@code --insecure}). One client, so
 * repeated reads share a connection and its handshake.
 */
public final class MetricsReader implements AutoCloseable {

    private final HttpClient http;
    private final String scheme;

    public MetricsReader(TlsSettings identity, Duration connectTimeout) throws IOException {
        HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(connectTimeout);
        if (!identity.insecure()) {
            try {
                // Any server role: the same reader reads collectors and agents.
                builder.sslContext(Tls.sockets(TlsMaterial.load(identity, null)));
            } catch (PkiException e) {
                throw new IOException("cannot read metrics as " + identity + ": " + e.getMessage(), e);
            }
        }
        this.http = builder.build();
        this.scheme = identity.insecure() ? "http" : "https";
    }

    /**
     * The path of a daemon's {@code /metrics} with only {@code families} on it (Prometheus's {@code name[]} parameter,
     * which the daemons honour): a reader that polls a few figures then costs the daemon those families, not the
     * whole page, and has only them to parse.
     */
    public static String metricsOf(List<String> families) {
        StringJoiner path = new StringJoiner("&", "/metrics?", "");
        for (String family : families) {
            path.add("name%5B%5D=" + URLEncoder.encode(family, StandardCharsets.UTF_8));
        }
        return path.toString();
    }

    /** GET {@code path} of the daemon whose metrics port on 127.0.0.1 is {@code port}. */
    public HttpResponse<String> get(int port, String path, Duration timeout) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(scheme + "://127.0.0.1:" + port + path)).timeout(timeout)
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    @Override
    public void close() {
        http.close();
    }
}
