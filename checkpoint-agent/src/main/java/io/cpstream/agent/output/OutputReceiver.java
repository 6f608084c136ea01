package io.cpstream.agent.output;

import io.cpstream.proto.Limit;
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
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
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
 *   open VM FENCING                         ->  ok NEXT | fenced REASON
 *   write VM FENCING FIRST COUNT + COUNT hex lines  ->  ok NEXT | fenced REASON | gap EXPECTED
 * </pre>
 * NEXT is the index the receiver expects next, -1 if it has none of this VM's output yet.
 *
 * <p>With TLS ({@link TlsSettings}), a client must present an agent certificate (TLS 1.3, mutual), and may open
 * and write only the VMs it names; an unauthorized request is answered {@code denied REASON} and the connection
 * closed. Lines are bounded (a request line {@value #MAX_REQUEST_LINE} bytes, a record line twice the largest
 * record), a write at most {@value #MAX_WRITE_BYTES} bytes of records, fencing epochs below 2^63-1, and clients
 * at most {@value #MAX_CLIENTS} at a time: no peer can make the sink hold more than that.
 */
public final class OutputReceiver implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(OutputReceiver.class.getName());
    private static final int MAX_RECORDS_PER_WRITE = 1 << 20;
    static final int MAX_REQUEST_LINE = 256;
    static final int MAX_WRITE_BYTES = Limit.MAX_HELD_OUTPUT_BYTES_VALUE;
    static final int MAX_CLIENTS = 256;
    private static final int HANDSHAKE_MILLIS = 10_000;

    private final OutputLog log;
    private final ServerSocket server;
    private final List<Socket> clients = new ArrayList<>();
    private final AtomicLong duplicateAttempts = new AtomicLong();
    private final AtomicLong gapAttempts = new AtomicLong();
    private final AtomicLong fencedAttempts = new AtomicLong();
    private final AtomicLong fencedWrites = new AtomicLong();
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong deniedRequests = new AtomicLong();
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

    /** A plaintext receiver ({@code --insecure}): any client may open and write any VM. */
    public OutputReceiver(String host, int port, Path file) throws IOException {
        this(host, port, file, TlsSettings.INSECURE);
    }

    public OutputReceiver(String host, int port, Path file, TlsSettings settings) throws IOException {
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
        Thread.ofPlatform().daemon().name("output-receiver").start(this::acceptLoop);
    }

    /** Requests refused because the client's certificate does not name the VM (or is not an agent's). */
    public long deniedRequests() {
        return deniedRequests.get();
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
                    if (clients.size() >= MAX_CLIENTS) {
                        LOG.log(System.Logger.Level.WARNING, "output receiver: " + MAX_CLIENTS + " clients already; "
                                + "refusing one from " + client.getRemoteSocketAddress());
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
                client.setSoTimeout(0);
            }
            BoundedLines in = new BoundedLines(client.getInputStream());
            OutputStream out = client.getOutputStream();
            String line;
            while ((line = in.readLine(MAX_REQUEST_LINE)) != null) {
                String answer = answer(line, in, peer);
                out.write((answer + "\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                if (answer.startsWith("denied ")) {
                    return;
                }
            }
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
                return "ok " + log.open(fields[1], Long.parseLong(fields[2]));
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
                for (int i = 0; i < count; i++) {
                    String record = in.readLine(2 * Limit.MAX_OUTPUT_RECORD_BYTES_VALUE);
                    if (record == null) {
                        throw new IOException("the write ended after " + i + " of " + count + " records");
                    }
                    bytes += record.length() / 2;
                    if (bytes > MAX_WRITE_BYTES) {
                        throw new IOException("a write of more than " + MAX_WRITE_BYTES + " bytes");
                    }
                    records.add(hex.parseHex(record));
                }
                log.write(vm, fencing, first, records);
                accepted.addAndGet(count);
                arrivals.accepted(vm, first, count, System.nanoTime());
                return "ok " + (first + count);
            }
            throw new IOException("unknown request (" + Math.min(request.length(), 16) + " characters shown) '"
                    + printable(request.substring(0, Math.min(request.length(), 16))) + "'");
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

    private static final java.util.regex.Pattern VM = java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private static String printable(String text) {
        StringBuilder out = new StringBuilder();
        for (char c : text.toCharArray()) {
            out.append(c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\x%02x", (int) c & 0xff));
        }
        return out.toString();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        synchronized (clients) {
            for (Socket client : clients) {
                client.close();
            }
        }
        log.close();
    }
}
