package io.cpstream.agent.output;

import io.cpstream.proto.Limit;
import io.cpstream.security.ClientText;
import io.cpstream.security.Identity;
import io.cpstream.security.PkiException;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.cpstream.security.TlsSettings;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;

/**
 * The far end of {@code tcp://} output sinks: accepts released output from any number of primaries
 * and keeps it in an {@link OutputLog}, enforcing order and fencing. What {@code cpstream sink} runs,
 * and what the failover tests release into.
 *
 * <p>Protocol, one ASCII line per request and answer:
 * <pre>
 *   open VM FENCING                         ->  ok NEXT | fenced REASON | denied REASON | unavailable REASON
 *   write VM FENCING FIRST COUNT + COUNT hex lines  ->  ok NEXT | fenced REASON | gap EXPECTED | denied REASON
 *                                                       | unavailable REASON
 * </pre>
 * NEXT is the index the receiver expects next, -1 if it has none of this VM's output yet.
 *
 * <p>With a {@link FencingAuthority} (ZooKeeper, or the collectors), a primary's FENCING must be the one the
 * authority holds for the VM: lower is {@code fenced}, higher (made up) is {@code denied}, and {@code unavailable}
 * means the authority cannot be asked now (the primary tries again). Without one, the receiver knows only the
 * highest epoch a primary presented to it, and a certified agent of the VM could present a higher one.
 *
 * <p>With TLS ({@link TlsSettings}), a client must present an agent certificate (TLS 1.3, mutual), and may open
 * and write only the VMs it names; an unauthorized request is answered {@code denied REASON} and the connection
 * closed. Lines are bounded (a request line {@value #MAX_REQUEST_LINE} bytes, a record line twice the largest
 * record), a write at most {@value #MAX_WRITE_BYTES} bytes of records, fencing epochs below 2^63-1, and clients
 * at most {@value #MAX_CLIENTS} at a time (by default, {@link Limits}): no peer can make the sink hold more than that.
 * Nor for longer: a TLS handshake must end within {@value #HANDSHAKE_MILLIS} ms, a request line arrive within the
 * idle timeout of the previous answer (a connection without one is closed, freeing its slot), and a write's record
 * lines within the request timeout, which every {@value #MIN_RATE} bytes received extend by a second (a primary
 * sending at least that fast always finishes, one trickling its records is closed and none of them is taken), and an
 * answer be taken within the request timeout (a peer that sends requests and never reads the answers is closed).
 */
public final class OutputReceiver implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(OutputReceiver.class.getName());
    private static final int MAX_RECORDS_PER_WRITE = 1 << 20;
    static final int MAX_REQUEST_LINE = 256;
    static final int MAX_WRITE_BYTES = Limit.MAX_HELD_OUTPUT_BYTES_VALUE;
    static final int MAX_CLIENTS = 256;
    private static final int HANDSHAKE_MILLIS = 10_000;
    /**
     * Bytes a second below which a write's record lines stop extending its deadline: far below any link a primary
     * releases over (a write of the most records, {@value #MAX_WRITE_BYTES} bytes, is twice that in hex, 128 s at
     * this rate), and far above a trickle.
     */
    static final int MIN_RATE = 64 << 10;

    private final OutputLog log;
    private final ServerSocket server;
    private final List<Socket> clients = new ArrayList<>();
    private final AtomicLong duplicateAttempts = new AtomicLong();
    private final AtomicLong gapAttempts = new AtomicLong();
    private final AtomicLong fencedAttempts = new AtomicLong();
    private final AtomicLong fencedWrites = new AtomicLong();
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong deniedRequests = new AtomicLong();
    private final AtomicLong idleClosed = new AtomicLong();
    private final AtomicLong requestTimeouts = new AtomicLong();
    private final AtomicLong ungrantedEpochs = new AtomicLong();
    private final AtomicLong authorityUnavailable = new AtomicLong();
    private final Limits limits;
    /** Null without a fencing authority: the receiver then trusts the epochs primaries present (see the class). */
    private final FencingCheck fencing;
    /**
     * Closes a connection whose answer is not out within the request timeout. A blocking write has no timeout of its
     * own, and a peer that sends requests but never reads the answers fills the socket's buffers until the write
     * blocks for good; closing the socket from here ends it.
     */
    private final ScheduledThreadPoolExecutor watchdog;
    private final boolean tls;
    private volatile boolean closed;
    private volatile Arrivals arrivals = (vm, first, count, nanos) -> { };

    /** Sees every write the receiver accepted, once it is in the log. */
    @FunctionalInterface
    public interface Arrivals {
        /**
         * @param first the index of the write's first record
         * @param nanos {@link System#nanoTime()} once the records were in the log: when they were released
         */
        void accepted(String vm, long first, int count, long nanos);
    }

    /**
     * How many clients the receiver serves at once and how long it waits for them: {@code idleTimeout} for a request
     * line after the handshake or the previous answer, {@code requestTimeout} (plus a second per {@value #MIN_RATE}
     * bytes received) for a write's record lines once its request line is in. What {@code cpstream sink
     * --idle-timeout-ms --request-timeout-ms} set; tests shorten them.
     */
    public record Limits(int maxClients, Duration idleTimeout, Duration requestTimeout) {

        public static final Limits DEFAULT = new Limits(MAX_CLIENTS, Duration.ofSeconds(60), Duration.ofSeconds(10));

        public Limits {
            if (maxClients < 1 || !idleTimeout.isPositive() || !requestTimeout.isPositive()) {
                throw new IllegalArgumentException("a receiver needs at least one client and positive timeouts, not "
                        + maxClients + ", " + idleTimeout + ", " + requestTimeout);
            }
        }
    }

    /** A plaintext receiver ({@code --insecure}): any client may open and write any VM. */
    public OutputReceiver(String host, int port, Path file) throws IOException {
        this(host, port, file, TlsSettings.INSECURE);
    }

    public OutputReceiver(String host, int port, Path file, TlsSettings settings) throws IOException {
        this(host, port, file, settings, Limits.DEFAULT);
    }

    public OutputReceiver(String host, int port, Path file, TlsSettings settings, Limits limits) throws IOException {
        this(host, port, file, settings, limits, null);
    }

    /** {@code authority} may be null: the receiver then trusts the fencing epochs primaries present. */
    public OutputReceiver(String host, int port, Path file, TlsSettings settings, Limits limits,
                          FencingAuthority authority) throws IOException {
        this.limits = java.util.Objects.requireNonNull(limits);
        this.fencing = authority == null ? null : new FencingCheck(authority);
        this.tls = !settings.insecure();
        ServerSocket socket;
        if (tls) {
            try {
                socket = Tls.sockets(TlsMaterial.load(settings, null)).getServerSocketFactory().createServerSocket();
            } catch (PkiException e) {
                throw new IOException("TLS: " + e.getMessage(), e);
            }
            SSLServerSocket secure = (SSLServerSocket) socket;
            secure.setNeedClientAuth(true);
            secure.setEnabledProtocols(new String[] {Tls.PROTOCOL});
        } else {
            socket = new ServerSocket();
        }
        settings.warnIfInsecure("output sink");
        this.log = new OutputLog(file);
        this.server = socket;
        server.setReuseAddress(true);
        server.bind(new InetSocketAddress(host, port));
        this.watchdog = new ScheduledThreadPoolExecutor(1,
                Thread.ofPlatform().daemon().name("output-receiver-watchdog").factory());
        watchdog.setRemoveOnCancelPolicy(true); // one schedule per answer, nearly all cancelled: do not keep them
        Thread.ofPlatform().daemon().name("output-receiver").start(this::acceptLoop);
    }

    /** Requests refused because the client's certificate does not name the VM (or is not an agent's). */
    public long deniedRequests() {
        return deniedRequests.get();
    }

    /** Requests denied because their fencing epoch is neither the one the fencing authority holds nor below it. */
    public long ungrantedEpochs() {
        return ungrantedEpochs.get();
    }

    /** Requests answered {@code unavailable}: the fencing authority could not be asked about a new epoch. */
    public long authorityUnavailable() {
        return authorityUnavailable.get();
    }

    /** Connections closed because no request came within the idle timeout: quiet primaries, and peers that stall. */
    public long idleClosed() {
        return idleClosed.get();
    }

    /**
     * Connections closed because a request did not complete within the request timeout: a write's records did not
     * all arrive (none of them is taken), or the answer could not be sent (the peer does not read).
     */
    public long requestTimeouts() {
        return requestTimeouts.get();
    }

    public int port() {
        return server.getLocalPort();
    }

    public Path file() {
        return log.file();
    }

    /**
     * Tells {@code listener} of every write accepted from now on, on the connection's thread (be quick): how {@code
     * bench --compare-protect} timestamps releases at the sink itself.
     */
    public void onAccepted(Arrivals listener) {
        this.arrivals = java.util.Objects.requireNonNull(listener);
    }

    /** Records accepted so far, of every VM. */
    public long acceptedRecords() {
        return accepted.get();
    }

    /** Writes refused because they repeated records the receiver already held. */
    public long duplicateAttempts() {
        return duplicateAttempts.get();
    }

    /** Writes refused because they skipped records the receiver never got. */
    public long gapAttempts() {
        return gapAttempts.get();
    }

    /** Requests refused because a primary of a higher fencing epoch had taken over. */
    public long fencedAttempts() {
        return fencedAttempts.get();
    }

    /**
     * Writes refused because a primary of a higher fencing epoch had taken over: each one a primary that still
     * believed it was the primary while another was (an old one only opening the sink is not releasing).
     */
    public long fencedWrites() {
        return fencedWrites.get();
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                synchronized (clients) {
                    if (clients.size() >= limits.maxClients()) {
                        LOG.log(System.Logger.Level.WARNING, "output receiver: " + limits.maxClients()
                                + " clients already; refusing one from " + client.getRemoteSocketAddress());
                        client.close();
                        continue;
                    }
                    clients.add(client);
                }
                Thread.ofPlatform().daemon().name("output-receiver-client").start(() -> serve(client));
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(System.Logger.Level.WARNING, "output receiver: accept failed: " + e.getMessage());
                }
            }
        }
    }

    private void serve(Socket client) {
        try (client) {
            Identity peer = Identity.UNAUTHENTICATED;
            if (client instanceof SSLSocket secure) {
                client.setSoTimeout(HANDSHAKE_MILLIS);
                secure.startHandshake();
                peer = Tls.peer(secure.getSession());
            }
            BoundedLines in = new BoundedLines(client);
            OutputStream out = client.getOutputStream();
            while (true) {
                in.deadline(limits.idleTimeout().toNanos(), 0);
                String line;
                try {
                    line = in.readLine(MAX_REQUEST_LINE);
                } catch (SocketTimeoutException e) {
                    // A quiet primary's connection as much as a stalled peer's: the primary connects again when it
                    // has output, so this is routine, and not worth more than a debug line.
                    idleClosed.incrementAndGet();
                    LOG.log(System.Logger.Level.DEBUG, "output receiver: closing the connection from {0}: no request"
                            + " for {1} ms", client.getRemoteSocketAddress(),
                            String.valueOf(limits.idleTimeout().toMillis()));
                    return;
                }
                if (line == null) {
                    return;
                }
                String answer = answer(line, in, peer);
                ScheduledFuture<?> stalled = watchdog.schedule(() -> closeStalled(client),
                        limits.requestTimeout().toNanos(), TimeUnit.NANOSECONDS);
                try {
                    out.write((answer + "\n").getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                } finally {
                    stalled.cancel(false);
                }
                if (answer.startsWith("denied ")) {
                    return;
                }
            }
        } catch (RequestTimeoutException e) {
            // An honest primary sends a write at once: one that does not arrive in time is a peer holding a slot, or a
            // link too slow for the sink's request timeout. Either way the operator should hear of it.
            requestTimeouts.incrementAndGet();
            LOG.log(System.Logger.Level.WARNING, "output receiver: closing the connection from "
                    + client.getRemoteSocketAddress() + ": " + e.getMessage());
        } catch (SocketException e) {
            // the primary went away (or was killed): nothing to answer
        } catch (IOException | RuntimeException e) {
            if (!closed) {
                LOG.log(System.Logger.Level.WARNING, "output receiver: dropping a client: " + e);
            }
        } finally {
            synchronized (clients) {
                clients.remove(client);
            }
        }
    }

    /** On the watchdog: {@code client} has not taken an answer within the request timeout. */
    private void closeStalled(Socket client) {
        requestTimeouts.incrementAndGet();
        LOG.log(System.Logger.Level.WARNING, "output receiver: closing the connection from "
                + client.getRemoteSocketAddress() + ": it has not taken an answer in "
                + limits.requestTimeout().toMillis() + " ms (the request timeout)");
        try {
            // Linger 0: a TLS socket's close otherwise waits for the lock its blocked write holds, to send a
            // close_notify that cannot go out either (seen: the watchdog and the receiver's close stuck behind it).
            // With it, the close resets the connection, which is all a peer that does not read can be told.
            client.setSoLinger(true, 0);
            client.close();
        } catch (IOException e) {
            // closed either way: its thread's write ends
        }
    }

    /** A write's record lines did not all arrive within the request timeout; none of them is taken. */
    private static final class RequestTimeoutException extends IOException {
        RequestTimeoutException(String message) {
            super(message);
        }
    }

    private String answer(String request, BoundedLines in, Identity peer) throws IOException {
        String[] fields = request.split(" ");
        try {
            if ((fields.length == 3 && fields[0].equals("open")) || (fields.length == 5 && fields[0].equals("write"))) {
                if (!VM.matcher(fields[1]).matches()) {
                    throw new IOException("malformed vm id");
                }
                if (!peer.mayProtect(fields[1])) {
                    deniedRequests.incrementAndGet();
                    LOG.log(System.Logger.Level.WARNING, "output receiver: " + peer + " may not release output of vm "
                            + fields[1]);
                    return "denied " + peer + " may not release output of vm " + fields[1];
                }
                long fencing = Long.parseLong(fields[2]);
                if (fencing < 0 || fencing == Long.MAX_VALUE) {
                    throw new IOException("fencing epoch out of range");
                }
            }
            if (fields.length == 3 && fields[0].equals("open")) {
                String refused = refusedByAuthority(fields[1], Long.parseLong(fields[2]));
                return refused != null ? refused : "ok " + log.open(fields[1], Long.parseLong(fields[2]));
            }
            if (fields.length == 5 && fields[0].equals("write")) {
                String vm = fields[1];
                long fencing = Long.parseLong(fields[2]);
                long first = Long.parseLong(fields[3]);
                int count = Integer.parseInt(fields[4]);
                if (first < 0 || count < 0 || count > MAX_RECORDS_PER_WRITE) {
                    throw new IOException("a write of " + count + " records from " + first);
                }
                List<byte[]> records = new ArrayList<>(Math.min(count, 1024));
                HexFormat hex = HexFormat.of();
                long bytes = 0;
                in.deadline(limits.requestTimeout().toNanos(), MIN_RATE);
                for (int i = 0; i < count; i++) {
                    String record;
                    try {
                        record = in.readLine(2 * Limit.MAX_OUTPUT_RECORD_BYTES_VALUE);
                    } catch (SocketTimeoutException e) {
                        throw new RequestTimeoutException("a write of " + count + " records had sent " + i
                                + " when its request timeout (" + limits.requestTimeout().toMillis() + " ms, and a "
                                + "second per " + MIN_RATE + " bytes received) ran out");
                    }
                    if (record == null) {
                        throw new IOException("the write ended after " + i + " of " + count + " records");
                    }
                    bytes += record.length() / 2;
                    if (bytes > MAX_WRITE_BYTES) {
                        throw new IOException("a write of more than " + MAX_WRITE_BYTES + " bytes");
                    }
                    records.add(hex.parseHex(record));
                }
                // Judged once the records are in, so that an answer never leaves them unread on the connection.
                String refused = refusedByAuthority(vm, fencing);
                if (refused != null) {
                    return refused;
                }
                log.write(vm, fencing, first, records);
                accepted.addAndGet(count);
                arrivals.accepted(vm, first, count, System.nanoTime());
                return "ok " + (first + count);
            }
            throw new IOException("unknown request '" + ClientText.escape(request, 16) + "'");
        } catch (OutputSink.FencedException e) {
            fencedAttempts.incrementAndGet();
            if (fields[0].equals("write")) {
                fencedWrites.incrementAndGet();
            }
            return "fenced " + e.getMessage();
        } catch (OutputSink.OutputGapException e) {
            long first = Long.parseLong(fields[3]);
            (first < e.expected() ? duplicateAttempts : gapAttempts).incrementAndGet();
            return "gap " + e.expected();
        } catch (NumberFormatException e) {
            throw new IOException("malformed numbers in a request", e);
        } catch (IllegalArgumentException e) {
            throw new IOException("malformed record (not hex)", e);
        }
    }

    /**
     * The answer refusing a primary of {@code vm} at {@code presented} as the fencing authority says, or null when it
     * may act (or there is no authority). Taken over is thrown as fenced, counted with the log's own fencing.
     */
    private String refusedByAuthority(String vm, long presented) throws OutputSink.FencedException {
        if (fencing == null) {
            return null;
        }
        FencingCheck.Verdict verdict = fencing.check(vm, presented);
        return switch (verdict.outcome()) {
            case ALLOWED -> null;
            case TAKEN_OVER -> throw new OutputSink.FencedException(verdict.reason());
            case NOT_GRANTED -> {
                deniedRequests.incrementAndGet();
                ungrantedEpochs.incrementAndGet();
                LOG.log(System.Logger.Level.WARNING, "output receiver: " + verdict.reason());
                yield "denied " + verdict.reason();
            }
            case UNAVAILABLE -> {
                authorityUnavailable.incrementAndGet();
                yield "unavailable " + verdict.reason();
            }
        };
    }

    private static final java.util.regex.Pattern VM = java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        synchronized (clients) {
            for (Socket client : clients) {
                client.close();
            }
        }
        // After the clients: a TLS client whose answer is stuck is closed only once the watchdog has reset it.
        watchdog.shutdownNow();
        log.close();
    }
}
