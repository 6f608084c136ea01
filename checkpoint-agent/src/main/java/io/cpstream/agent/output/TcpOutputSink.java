package io.cpstream.agent.output;

import io.cpstream.security.PkiException;
import io.cpstream.security.Role;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.cpstream.security.TlsSettings;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

/**
 * {@code tcp://HOST:PORT}: releases to an output receiver over TCP, in the line protocol
 * {@link OutputReceiver} serves. A write returns once the receiver has stored the records.
 *
 * <p>The receiver closes a connection that has been without a request for its idle timeout, which a quiet guest's
 * connection meets between two writes. A write that finds its connection closed that way is sent again on a new one,
 * from where the receiver stands: it may have stored the write before the connection went, and its {@code open}
 * answers the next record it expects, so nothing is released twice and nothing skipped.
 */
public final class TcpOutputSink implements OutputSink {

    private static final System.Logger LOG = System.getLogger(TcpOutputSink.class.getName());

    private static final int CONNECT_TIMEOUT_MILLIS = 5_000;
    private static final int ANSWER_TIMEOUT_MILLIS = 30_000;

    private final String host;
    private final int port;
    private Socket socket;
    private BufferedReader in;
    private OutputStream out;
    private String vm;
    private long fencingEpoch;

    /** Mutual TLS (the receiver must present a sink certificate), or null: plaintext. */
    private final SSLSocketFactory tls;

    public TcpOutputSink(String host, int port) {
        this(host, port, TlsSettings.INSECURE);
    }

    public TcpOutputSink(String host, int port, TlsSettings settings) throws IllegalArgumentException {
        this.host = host;
        this.port = port;
        try {
            this.tls = settings.insecure() ? null : Tls.sockets(TlsMaterial.load(settings, Role.SINK)).getSocketFactory();
        } catch (PkiException e) {
            throw new IllegalArgumentException("TLS: " + e.getMessage(), e);
        }
    }

    @Override
    public long open(String vm, long fencingEpoch) throws IOException {
        this.vm = vm;
        this.fencingEpoch = fencingEpoch;
        connect();
        return exchange("open " + vm + " " + fencingEpoch + "\n", -1);
    }

    @Override
    public void write(long first, List<byte[]> records) throws IOException {
        if (records.isEmpty()) {
            return;
        }
        boolean reused = socket != null;
        if (!reused) {
            connect();
        }
        try {
            exchange(request(first, records), first);
        } catch (ClosedException | SocketException | SSLException e) {
            if (!reused) {
                throw e; // a new connection that fails is the receiver's failure, not an idle connection's end
            }
            LOG.log(System.Logger.Level.DEBUG, "{0}: the connection was closed ({1}); connecting again", this,
                    e.getMessage());
            resume(first, records);
        }
    }

    /** Sends what of {@code records} the receiver does not hold yet, on a new connection. */
    private void resume(long first, List<byte[]> records) throws IOException {
        long answered = open(vm, fencingEpoch);
        // A receiver with no history of the VM takes the records from wherever they start.
        long next = answered == NO_HISTORY ? first : answered;
        if (next < first) {
            throw new OutputGapException(next, first); // records before these are missing: the caller's to resolve
        }
        if (next < first + records.size()) {
            exchange(request(next, records.subList((int) (next - first), records.size())), next);
        }
        // else: the receiver stored all of them before the connection went
    }

    private String request(long first, List<byte[]> records) {
        StringBuilder request = new StringBuilder("write ").append(vm).append(' ').append(fencingEpoch).append(' ')
                .append(first).append(' ').append(records.size()).append('\n');
        HexFormat hex = HexFormat.of();
        for (byte[] record : records) {
            request.append(hex.formatHex(record)).append('\n');
        }
        return request.toString();
    }

    private void connect() throws IOException {
        closeQuietly();
        Socket plain = new Socket();
        plain.connect(new InetSocketAddress(host, port), CONNECT_TIMEOUT_MILLIS);
        plain.setSoTimeout(ANSWER_TIMEOUT_MILLIS);
        plain.setTcpNoDelay(true);
        Socket s = plain;
        if (tls != null) {
            SSLSocket secure = (SSLSocket) tls.createSocket(plain, host, port, true);
            secure.setEnabledProtocols(new String[] {Tls.PROTOCOL});
            secure.startHandshake();
            s = secure;
        }
        socket = s;
        in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
        out = s.getOutputStream();
    }

    /** Sends a request and reads the one-line answer; any failure drops the connection. */
    private long exchange(String request, long first) throws IOException {
        try {
            out.write(request.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String answer = in.readLine();
            if (answer == null) {
                throw new ClosedException("the output receiver at " + host + ":" + port + " closed the connection");
            }
            String[] fields = answer.split(" ", 2);
            return switch (fields[0]) {
                case "ok" -> Long.parseLong(fields[1]);
                case "fenced" -> throw new FencedException(fields.length > 1 ? fields[1] : "fenced");
                case "denied" -> throw new DeniedException("the output receiver at " + host + ":" + port
                        + " denies this agent: " + (fields.length > 1 ? fields[1] : "no reason given"));
                case "gap" -> throw new OutputGapException(Long.parseLong(fields[1]), first);
                // Passing: the sink cannot ask its fencing authority about this epoch now; the caller retries.
                case "unavailable" -> throw new IOException("the output receiver at " + host + ":" + port
                        + " cannot check this primary's fencing epoch now: " + (fields.length > 1 ? fields[1] : ""));
                default -> throw new IOException("the output receiver answered '" + answer + "'");
            };
        } catch (IOException | RuntimeException e) {
            closeQuietly();
            throw e instanceof IOException io ? io : new IOException(e);
        }
    }

    /** The receiver closed the connection without answering. */
    private static final class ClosedException extends IOException {
        ClosedException(String message) {
            super(message);
        }
    }

    private void closeQuietly() {
        if (socket != null) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // nothing left to release on it
            }
            socket = null;
        }
    }

    @Override
    public void close() {
        closeQuietly();
    }

    @Override
    public String toString() {
        return "tcp://" + host + ":" + port;
    }
}
