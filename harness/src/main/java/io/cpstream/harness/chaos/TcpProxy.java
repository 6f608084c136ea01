package io.cpstream.harness.chaos;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * A TCP relay between an agent and its collector that can break the network on purpose: cut every
 * connection and refuse new ones (a partition both sides see), black-hole them (a partition nobody is told of:
 * connections stay open and carry nothing), heal, or hold each chunk back for a while (a slow link).
 */
public final class TcpProxy implements AutoCloseable {

    private final ServerSocket server;
    private final InetSocketAddress target;
    private final List<Socket> open = new ArrayList<>();
    private volatile boolean cut;
    private volatile boolean blackHole;
    private volatile long delayNanos;
    private volatile boolean closed;

    public TcpProxy(InetSocketAddress target) throws IOException {
        this.target = target;
        this.server = new ServerSocket();
        server.setReuseAddress(true);
        server.bind(new InetSocketAddress("127.0.0.1", 0));
        Thread.ofPlatform().daemon().name("tcp-proxy").start(this::acceptLoop);
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Drops every connection and refuses new ones until {@link #heal()}. */
    public void cut() {
        cut = true;
        closeAll();
    }

    /** Passes nothing on any more, in either direction, while every connection stays open, until {@link #heal()}. */
    public void blackHole() {
        blackHole = true;
    }

    public void heal() {
        cut = false;
        blackHole = false;
    }

    /** Holds every chunk back this long before passing it on (0: none). */
    public void delay(long millis) {
        delayNanos = millis * 1_000_000;
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                if (cut) {
                    client.close();
                    continue;
                }
                Socket upstream = new Socket();
                try {
                    upstream.connect(target, 2000);
                } catch (IOException e) {
                    client.close();
                    continue;
                }
                synchronized (open) {
                    open.add(client);
                    open.add(upstream);
                }
                pump(client, upstream);
                pump(upstream, client);
            } catch (IOException e) {
                if (!closed) {
                    LockSupport.parkNanos(10_000_000);
                }
            }
        }
    }

    private void pump(Socket from, Socket to) {
        Thread.ofPlatform().daemon().name("tcp-proxy-pump").start(() -> {
            byte[] buffer = new byte[64 << 10];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                for (int n; (n = in.read(buffer)) > 0; ) {
                    long delay = delayNanos;
                    if (delay > 0) {
                        LockSupport.parkNanos(delay);
                    }
                    if (!blackHole) {
                        out.write(buffer, 0, n);
                    }
                }
            } catch (IOException e) {
                // one side went away: take the other down with it
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        });
    }

    private void closeAll() {
        synchronized (open) {
            open.forEach(TcpProxy::closeQuietly);
            open.clear();
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // already gone
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        closeAll();
    }
}
