package io.cpstream.cli;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Bounds on the JDK's HTTP server ({@code com.sun.net.httpserver}) that serves {@code /metrics} and {@code /health},
 * so that no peer can pin it. Out of the box that server accepts any number of connections and waits forever for a
 * request, or for a client to read its answer: a slowloris on the metrics port would stop every scrape.
 *
 * <p>The server has no per-server API for these; it reads them from system properties once, when its classes are
 * first loaded (JDK 25's {@code sun.net.httpserver.ServerConfig}), for the whole JVM. So {@link #apply} sets them
 * before the first server is created; a property already set ({@code -D} in {@code CPSTREAM_JAVA_OPTS}) wins, so an
 * operator can still tune one. They apply to every HTTP server of the JVM, which in a daemon is only this one.
 */
final class HttpServerLimits {

    /**
     * Property, value and why. Times of {@code maxReqTime}, {@code maxRspTime} and {@code idleInterval} are in
     * seconds, ticks in milliseconds.
     */
    static final Map<String, String> LIMITS = limits();

    private HttpServerLimits() {
    }

    private static Map<String, String> limits() {
        Map<String, String> limits = new LinkedHashMap<>();
        // Open connections at once; one more is closed as it is accepted. Prometheus keeps one per target and an
        // operator's curl one more, so this leaves room for several scrapers while bounding sockets and threads.
        limits.put("jdk.httpserver.maxConnections", "64");
        // From a connection's first byte until its request head has arrived: this covers the TLS handshake, which
        // the server runs in the exchange. A peer that stalls in either is closed after it. A connection that sends
        // nothing at all is closed after the same time (the server takes the lesser of this and idleInterval).
        limits.put("sun.net.httpserver.maxReqTime", "10");
        // From the request's head until the answer is sent: building a scrape (seconds at most on a loaded
        // collector) plus a client that does not read its answer.
        limits.put("sun.net.httpserver.maxRspTime", "30");
        // A kept-alive connection without a request for this long is closed (the JDK's default, stated here so
        // that all the bounds are in one place); scrapes come every few seconds.
        limits.put("sun.net.httpserver.idleInterval", "30");
        // How often the idle and the request/response bounds are checked, in milliseconds: once a second, so that
        // each closes a connection within a second of its limit (the idle check's default tick is 10 s).
        limits.put("sun.net.httpserver.clockTick", "1000");
        limits.put("sun.net.httpserver.timerMillis", "1000");
        // A scrape's request is a line and a few headers: bound what a peer can make the server hold per request
        // (JDK defaults: 200 headers, 380 KiB).
        limits.put("sun.net.httpserver.maxReqHeaders", "64");
        limits.put("sun.net.httpserver.maxReqHeaderSize", "16384");
        return Collections.unmodifiableMap(limits);
    }

    /** Sets every limit that is not already set; call before the JVM's first HTTP server is created. */
    static void apply() {
        synchronized (HttpServerLimits.class) {
            LIMITS.forEach((property, value) -> {
                if (System.getProperty(property) == null) {
                    System.setProperty(property, value);
                }
            });
        }
    }
}
