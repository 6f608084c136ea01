package io.cpstream.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A real redis-server on a free loopback port, and a write load on it over a minimal RESP client
 * (pipelined SETs of random keys and values). Tests skip, saying why, where redis-server is not
 * installed ({@code ./test} installs it: deploy/test/debian-packages.txt).
 */
final class RedisServer implements AutoCloseable {

    private static final Path BINARY = Path.of("/usr/bin/redis-server");
    private static final int PIPELINE = 32;

    private final Process process;
    private final int port;
    private final AtomicLong writes = new AtomicLong();
    private volatile boolean loading;
    private Thread load;
    private volatile Throwable loadFailure;

    private RedisServer(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    static RedisServer start() throws IOException, InterruptedException {
        assumeTrue(Files.isExecutable(BINARY), "skipped: " + BINARY + " is not installed (apt-get install redis-server)");
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        Process process = new ProcessBuilder(BINARY.toString(), "--port", Integer.toString(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        RedisServer redis = new RedisServer(process, port);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            try (Socket socket = redis.connect()) {
                if (redis.ping(socket)) {
                    return redis;
                }
            } catch (IOException e) {
                if (!process.isAlive() || System.nanoTime() > deadline) {
                    redis.close();
                    throw new IOException("redis-server did not come up on port " + port, e);
                }
                Thread.sleep(50);
            }
        }
    }

    int pid() {
        return (int) process.pid();
    }

    long writes() {
        return writes.get();
    }

    /** Starts a client that writes as fast as redis answers until {@link #close()}. */
    void startWriteLoad(long seed) {
        loading = true;
        load = Thread.ofPlatform().daemon().name("redis-load").start(() -> {
            SplittableRandom random = new SplittableRandom(seed);
            try (Socket socket = connect()) {
                OutputStream out = new BufferedOutputStream(socket.getOutputStream(), 1 << 16);
                InputStream in = new BufferedInputStream(socket.getInputStream(), 1 << 16);
                while (loading) {
                    for (int i = 0; i < PIPELINE; i++) {
                        byte[] value = new byte[16 + random.nextInt(1024)];
                        for (int j = 0; j < value.length; j++) {
                            value[j] = (byte) ('a' + random.nextInt(26));
                        }
                        command(out, "SET".getBytes(StandardCharsets.US_ASCII),
                                ("key:" + random.nextInt(50_000)).getBytes(StandardCharsets.US_ASCII), value);
                    }
                    out.flush();
                    for (int i = 0; i < PIPELINE; i++) {
                        String reply = line(in);
                        if (!reply.equals("+OK")) {
                            throw new IOException("redis answered " + reply);
                        }
                    }
                    writes.addAndGet(PIPELINE);
                }
            } catch (IOException | RuntimeException e) {
                if (loading) {
                    loadFailure = e;
                }
            }
        });
    }

    /** The write load ran without error, and redis still answers. */
    void assertHealthy() throws IOException {
        if (loadFailure != null) {
            throw new AssertionError("the redis write load failed", loadFailure);
        }
        try (Socket socket = connect()) {
            if (!ping(socket)) {
                throw new AssertionError("redis does not answer PING");
            }
        }
    }

    @Override
    public void close() throws InterruptedException {
        loading = false;
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
        if (load != null) {
            load.join(10_000);
        }
    }

    private Socket connect() throws IOException {
        Socket socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", port), 2000);
        socket.setSoTimeout(60_000); // a stun holds redis still; replies may wait for it
        return socket;
    }

    private boolean ping(Socket socket) throws IOException {
        OutputStream out = socket.getOutputStream();
        command(out, "PING".getBytes(StandardCharsets.US_ASCII));
        out.flush();
        return line(socket.getInputStream()).equals("+PONG");
    }

    private static void command(OutputStream out, byte[]... parts) throws IOException {
        out.write(("*" + parts.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
        for (byte[] part : parts) {
            out.write(("$" + part.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(part);
            out.write('\r');
            out.write('\n');
        }
    }

    private static String line(InputStream in) throws IOException {
        StringBuilder text = new StringBuilder();
        for (int c; (c = in.read()) != '\n'; ) {
            if (c < 0) {
                throw new IOException("redis closed the connection");
            }
            if (c != '\r') {
                text.append((char) c);
            }
        }
        return text.toString();
    }
}
