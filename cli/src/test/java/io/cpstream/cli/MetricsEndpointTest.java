package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.health.HealthCheck;
import io.cpstream.security.Pki;
import io.cpstream.security.Role;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.cpstream.security.TlsSettings;
import io.micrometer.core.instrument.Timer;
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
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
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
 * certificate, with one of another CA, or speaking plaintext gets no answer at all. {@code name[]} filters, their
 * bounds and the whole page without them. Plaintext with --insecure, a server certificate rotated under a running
 * endpoint, and stalled peers, which must neither hold the server nor stay connected past the bounds of
 * {@link HttpServerLimits}.
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
        // A histogram, as the daemons' per-VM timers are: samples _bucket, _count and _sum, and a _max family.
        Timer.builder("cpstream.test.lag").publishPercentileHistogram().register(endpoint.registry())
                .record(Duration.ofMillis(3));
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

    /** The sample names on a page (the text before labels or value), without comments. */
    private static Set<String> sampleNames(String page) {
        Set<String> names = new TreeSet<>();
        page.lines().filter(line -> !line.isBlank() && !line.startsWith("#"))
                .forEach(line -> names.add(line.split("[{ ]", 2)[0]));
        return names;
    }

    @Test
    void aNameFilterServesTheFamiliesNamedAndNoOthers() throws Exception {
        try (HttpClient client = client(reader, reader)) {
            HttpResponse<String> memory = get(client, url(endpoint, "https", "/metrics?name[]=jvm_memory_used_bytes"));
            assertEquals(200, memory.statusCode(), memory.body());
            assertTrue(memory.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"),
                    memory.headers().toString());
            assertTrue(memory.body().contains("jvm_memory_used_bytes{area=\"heap\""), memory.body());
            assertEquals(Set.of("jvm_memory_used_bytes"), sampleNames(memory.body()));

            // Escaped brackets; a counter by its family's name; a histogram by one of its samples' names, which
            // selects the whole family (not its _max, a family of its own).
            HttpResponse<String> named = get(client, url(endpoint, "https",
                    "/metrics?name%5B%5D=cpstream_test_scrapes&name%5B%5D=cpstream_test_lag_seconds_bucket&other=1"));
            assertEquals(200, named.statusCode(), named.body());
            assertEquals(Set.of("cpstream_test_scrapes_total", "cpstream_test_lag_seconds_bucket",
                    "cpstream_test_lag_seconds_count", "cpstream_test_lag_seconds_sum"), sampleNames(named.body()));

            HttpResponse<String> bySample = get(client, url(endpoint, "https",
                    "/metrics?name[]=cpstream_test_scrapes_total"));
            assertEquals(Set.of("cpstream_test_scrapes_total"), sampleNames(bySample.body()), bySample.body());

            HttpResponse<String> unknown = get(client, url(endpoint, "https", "/metrics?name[]=cpstream_no_such"));
            assertEquals(200, unknown.statusCode(), unknown.body());
            assertEquals(Set.of(), sampleNames(unknown.body()), unknown.body());
        }
    }

    @Test
    void withoutANameFilterThePageIsWhole() throws Exception {
        try (HttpClient client = client(reader, reader)) {
            for (String path : List.of("/metrics", "/metrics?", "/metrics?other=1&name=x")) {
                HttpResponse<String> page = get(client, url(endpoint, "https", path));
                assertEquals(200, page.statusCode(), path + ": " + page.body());
                Set<String> names = sampleNames(page.body());
                for (String name : List.of("jvm_memory_used_bytes", "jvm_threads_live_threads",
                        "cpstream_test_scrapes_total", "cpstream_test_lag_seconds_bucket",
                        "cpstream_test_lag_seconds_max")) {
                    assertTrue(names.contains(name), path + " lacks " + name + ": " + names);
                }
            }
        }
    }

    @Test
    void tooManyOrTooLongOrEmptyNamesAreRefused() throws Exception {
        String longest = "a".repeat(MetricsEndpoint.MAX_NAME_LENGTH);
        try (HttpClient client = client(reader, reader)) {
            // The bounds themselves pass: as many names as allowed, each as long as allowed, escaped brackets and all.
            List<String> most = new ArrayList<>(Collections.nCopies(MetricsEndpoint.MAX_NAMES - 1, longest));
            most.add("jvm_memory_used_bytes");
            HttpResponse<String> atTheBounds = get(client, url(endpoint, "https", filter(most, true)));
            assertEquals(200, atTheBounds.statusCode(), atTheBounds.body());
            assertEquals(Set.of("jvm_memory_used_bytes"), sampleNames(atTheBounds.body()));

            List<String> tooMany = Collections.nCopies(MetricsEndpoint.MAX_NAMES + 1, "jvm_memory_used_bytes");
            for (String path : List.of(filter(tooMany, false), filter(List.of(longest + "a"), false),
                    filter(List.of(""), false), "/metrics?name[]")) {
                HttpResponse<String> refused = get(client, url(endpoint, "https", path));
                assertEquals(400, refused.statusCode(), path.substring(0, Math.min(80, path.length())));
                assertTrue(refused.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
                assertTrue(refused.body().contains("name[]") && refused.body().length() < 100, refused.body());
            }
        }
        // The access filter still comes first: an agent's certificate gets 403 for a filtered scrape.
        try (HttpClient client = client(agent, agent)) {
            HttpResponse<String> answer = get(client, url(endpoint, "https", "/metrics?name[]=jvm_memory_used_bytes"));
            assertEquals(403, answer.statusCode());
            assertEquals(MetricsAccess.REFUSAL, answer.body());
        }
    }

    /**
     * A malformed %-escape never reaches the endpoint (the JDK's server answers 400 to a request line that is no URI,
     * and the JDK's client will not send one), so its handling is checked on the parser itself.
     */
    @Test
    void aMalformedEscapeInANameIsRefusedAndInAnotherParameterIgnored() {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> MetricsEndpoint.requestedFamilies("name[]=%zz"));
        assertEquals("a name[] with a malformed %-escape", refused.getMessage());
        assertEquals(Set.of("jvm_memory_used_bytes"),
                MetricsEndpoint.requestedFamilies("%zz=1&name%5b%5d=jvm_memory_used_bytes"));
        assertNull(MetricsEndpoint.requestedFamilies("%zz=1"));
    }

    private static String filter(List<String> names, boolean escaped) {
        String key = escaped ? "name%5B%5D=" : "name[]=";
        return "/metrics?" + String.join("&", names.stream().map(name -> key + name).toList());
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
