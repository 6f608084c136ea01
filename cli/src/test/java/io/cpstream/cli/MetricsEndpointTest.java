package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.health.HealthCheck;
import io.cpstream.security.Pki;
import io.cpstream.security.Role;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.cpstream.security.TlsSettings;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * /metrics and /health of a daemon run over mutual TLS, read over real sockets with certificates from a CA made for
 * the test: a reader and an admin read them, an agent's certificate is answered 403, and a client without a
 * certificate, with one of another CA, or speaking plaintext gets no answer at all. Plaintext with --insecure, a
 * server certificate rotated under a running endpoint, and stalled peers, which must neither hold the server nor
 * stay connected past the bounds of {@link HttpServerLimits}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MetricsEndpointTest {

    private static final Duration DAY = Duration.ofDays(1);

    @TempDir
    static Path dir;

    private Path ca;
    private TlsSettings server;
    private TlsSettings reader;
    private TlsSettings admin;
    private TlsSettings agent;
    private TlsSettings foreignReader;
    private MetricsEndpoint endpoint;

    @BeforeAll
    void start() throws Exception {
        ca = dir.resolve("ca");
        Pki.init(ca, DAY);
        Pki.issue(ca, "collector", Role.COLLECTOR, List.of(), DAY);
        Pki.issue(ca, "prometheus", Role.READER, List.of(), DAY);
        Pki.issue(ca, "alice", Role.ADMIN, List.of(), DAY);
        Pki.issue(ca, "agent", Role.AGENT, List.of("web-*"), DAY);
        server = Pki.settings(ca, "collector");
        reader = Pki.settings(ca, "prometheus");
        admin = Pki.settings(ca, "alice");
        agent = Pki.settings(ca, "agent");
        Path foreign = dir.resolve("foreign");
        Pki.init(foreign, DAY);
        Pki.issue(foreign, "prometheus", Role.READER, List.of(), DAY);
        foreignReader = Pki.settings(foreign, "prometheus");
        endpoint = started(server);
    }

    private static MetricsEndpoint started(TlsSettings tls) throws IOException {
        MetricsEndpoint endpoint = new MetricsEndpoint("127.0.0.1", TestDaemons.freePort(), tls);
        endpoint.registry().counter("cpstream.test.scrapes").increment();
        endpoint.check("daemon", () -> HealthCheck.Result.healthy("fine"));
        return endpoint;
    }

    @AfterAll
    void stop() {
        endpoint.close();
    }

    private String url(MetricsEndpoint endpoint, String scheme, String path) {
        return scheme + "://127.0.0.1:" + endpoint.port() + path;
    }

    /** A client presenting {@code key}'s certificate and trusting {@code trust}'s CA; null key: no certificate. */
    private static HttpClient client(TlsSettings key, TlsSettings trust) throws Exception {
        SSLContext context = SSLContext.getInstance(Tls.PROTOCOL);
        KeyManager[] keys = key == null ? new KeyManager[0] : new KeyManager[] {TlsMaterial.load(key, null).keyManager()};
        context.init(keys, new TrustManager[] {TlsMaterial.load(trust, Role.COLLECTOR).trustManager()}, null);
        return HttpClient.newBuilder().sslContext(context).connectTimeout(Duration.ofSeconds(5)).build();
    }

    private static HttpResponse<String> get(HttpClient client, String url) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aReaderAndAnAdminReadMetricsAndHealth() throws Exception {
        for (TlsSettings identity : List.of(reader, admin)) {
            try (HttpClient client = client(identity, identity)) {
                HttpResponse<String> metrics = get(client, url(endpoint, "https", "/metrics"));
                assertEquals(200, metrics.statusCode(), metrics.body());
                assertTrue(metrics.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"),
                        metrics.headers().toString());
                assertTrue(metrics.body().contains("cpstream_test_scrapes_total 1.0"), metrics.body());
                assertEquals("TLSv1.3", metrics.sslSession().orElseThrow().getProtocol());

                HttpResponse<String> health = get(client, url(endpoint, "https", "/health"));
                assertEquals(200, health.statusCode(), health.body());
                assertTrue(health.body().startsWith("{\"healthy\":true,\"checks\":{\"daemon\":{\"healthy\":true"),
                        health.body());
            }
        }
    }

    @Test
    void anAgentCertificateIsForbidden() throws Exception {
        try (HttpClient client = client(agent, agent)) {
            for (String path : List.of("/metrics", "/health")) {
                HttpResponse<String> answer = get(client, url(endpoint, "https", path));
                assertEquals(403, answer.statusCode(), path);
                assertEquals(MetricsAccess.REFUSAL, answer.body(), path);
            }
        }
    }

    @Test
    void noCertificateAForeignCaOrPlaintextGetNoAnswer() throws Exception {
        try (HttpClient client = client(null, reader)) {
            assertThrows(IOException.class, () -> get(client, url(endpoint, "https", "/metrics")),
                    "a client without a certificate");
        }
        // A reader certificate of another CA, presented to this one (the client itself trusts this CA).
        try (HttpClient client = client(foreignReader, reader)) {
            assertThrows(IOException.class, () -> get(client, url(endpoint, "https", "/metrics")),
                    "a certificate of another CA");
        }
        try (HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            assertThrows(IOException.class, () -> get(client, url(endpoint, "http", "/metrics")),
                    "plaintext HTTP on the TLS port");
        }
        // None of it wedged the server.
        assertEquals(200, TestDaemons.get(url(endpoint, "https", "/metrics"), reader).status());
    }

    @Test
    void insecureServesPlaintextToAnyone() throws Exception {
        try (MetricsEndpoint plain = started(TlsSettings.INSECURE)) {
            TestDaemons.Http metrics = TestDaemons.get(url(plain, "http", "/metrics"));
            assertEquals(200, metrics.status(), metrics.body());
            assertTrue(metrics.body().contains("cpstream_test_scrapes_total"), metrics.body());
            assertEquals(200, TestDaemons.get(url(plain, "http", "/health")).status());
        }
    }

    @Test
    void aRotatedServerCertificateIsServedWithoutARestart() throws Exception {
        Pki.issue(ca, "rotating", Role.COLLECTOR, List.of(), DAY);
        try (MetricsEndpoint rotating = started(Pki.settings(ca, "rotating"))) {
            BigInteger before = servedSerial(rotating);
            Pki.issue(ca, "rotating", Role.COLLECTOR, List.of(), DAY);
            BigInteger after = servedSerial(rotating);
            assertNotEquals(before, after, "the endpoint serves the reissued certificate at the next handshake");
        }
    }

    private BigInteger servedSerial(MetricsEndpoint endpoint) throws Exception {
        try (HttpClient client = client(reader, reader)) {
            HttpResponse<String> answer = get(client, url(endpoint, "https", "/metrics"));
            assertEquals(200, answer.statusCode());
            return ((X509Certificate) answer.sslSession().orElseThrow().getPeerCertificates()[0]).getSerialNumber();
        }
    }

    /**
     * Peers that connect, send the first byte of a handshake and stall: one of them does not hold up a reader's scrape,
     * a flood of them fills at most {@code maxConnections} (the connections beyond it are closed as they come), and
     * the server closes every one of them within the request bound, after which scrapes are served again.
     */
    @Test
    void stalledPeersNeitherHoldTheServerNorStayConnected() throws Exception {
        int maxConnections = Integer.parseInt(HttpServerLimits.LIMITS.get("jdk.httpserver.maxConnections"));
        long maxRequestMillis = Long.parseLong(HttpServerLimits.LIMITS.get("sun.net.httpserver.maxReqTime")) * 1000;
        try (MetricsEndpoint stalled = started(server)) {
            List<Socket> peers = new ArrayList<>();
            try {
                long start = System.nanoTime();
                peers.add(stall(stalled));
                // On the server's default executor this scrape would wait behind the stalled handshake.
                TestDaemons.Http scrape = TestDaemons.get(url(stalled, "https", "/metrics"), reader);
                assertEquals(200, scrape.status(), scrape.body());
                for (int i = 0; i < maxConnections + 8; i++) {
                    peers.add(stall(stalled));
                }
                Thread.sleep(1500);
                long closedAtOnce = peers.stream().filter(peer -> closed(peer, Duration.ofMillis(1))).count();
                assertTrue(closedAtOnce >= 8, closedAtOnce + " of " + peers.size() + " closed beyond "
                        + maxConnections + " connections");
                Duration bound = Duration.ofMillis(maxRequestMillis + 5_000);
                for (Socket peer : peers) {
                    Duration left = bound.minusNanos(System.nanoTime() - start);
                    assertTrue(closed(peer, left.isNegative() ? Duration.ofMillis(1) : left),
                            "a stalled peer is closed within " + bound.toMillis() + " ms");
                }
                assertEquals(200, TestDaemons.get(url(stalled, "https", "/metrics"), reader).status(),
                        "scrapes are served again");
            } finally {
                for (Socket peer : peers) {
                    peer.close();
                }
            }
        }
    }

    /** A connection that sends the first byte of a TLS record (a handshake) and nothing more. */
    private static Socket stall(MetricsEndpoint endpoint) throws IOException {
        Socket socket = new Socket("127.0.0.1", endpoint.port());
        socket.getOutputStream().write(0x16);
        socket.getOutputStream().flush();
        return socket;
    }

    /** Whether the server closed {@code socket} (what it sent before, an alert, read and dropped) within {@code wait}. */
    private static boolean closed(Socket socket, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        try {
            InputStream in = socket.getInputStream();
            byte[] buffer = new byte[512];
            while (true) {
                long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
                socket.setSoTimeout((int) Math.min(left, Integer.MAX_VALUE));
                if (in.read(buffer) < 0) {
                    return true;
                }
            }
        } catch (SocketTimeoutException e) {
            return false;
        } catch (SocketException e) {
            return true; // reset
        } catch (IOException e) {
            return true;
        }
    }

    @Test
    void logLinesGetNoControlCharactersAndNoUnboundedNames() {
        assertEquals("web\\u000aforged\\u001b[31m", MetricsAccess.printable("web\nforged\u001b[31m"));
        String printed = MetricsAccess.printable("x".repeat(10_000));
        assertTrue(printed.length() < 100 && printed.endsWith("(10000 characters)"), printed);
    }
}
