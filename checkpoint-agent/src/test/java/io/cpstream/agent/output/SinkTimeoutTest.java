package io.cpstream.agent.output;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.security.Pki;
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
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The sink's timeouts over real sockets (issue 15): a peer that connects and goes silent is closed at the idle
 * timeout and its slot serves another, one that trickles a write's records is closed at the request timeout with none
 * of them taken, one that never reads its answers is closed at the request timeout, and a primary whose quiet
 * connection the sink closed releases again with no gap and no duplicate.
 */
class SinkTimeoutTest {

    private static final Duration PATIENCE = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    private final List<Socket> sockets = new ArrayList<>();

    @AfterEach
    void closeSockets() throws IOException {
        for (Socket socket : sockets) {
            socket.close();
        }
    }

    private Socket connect(OutputReceiver receiver) throws IOException {
        Socket socket = new Socket();
        sockets.add(socket);
        socket.connect(new InetSocketAddress("127.0.0.1", receiver.port()), 5000);
        socket.setSoTimeout(30_000);
        return socket;
    }

    /** Sends {@code request} and returns the answer line, or null when the receiver closed the connection instead. */
    private static String ask(Socket socket, String request) {
        try {
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            return new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII))
                    .readLine();
        } catch (IOException e) {
            return null; // reset
        }
    }

    /** Whether the receiver has closed {@code socket}: its end of stream or a reset (else the read times out). */
    private static boolean closedByReceiver(Socket socket) {
        try {
            return socket.getInputStream().read() < 0;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    @Test
    void aSilentClientIsClosedAtTheIdleTimeoutAndItsSlotServesAnother() throws Exception {
        OutputReceiver.Limits limits = new OutputReceiver.Limits(2, Duration.ofSeconds(2), Duration.ofSeconds(30));
        try (OutputReceiver receiver = new OutputReceiver("127.0.0.1", 0, dir.resolve("out.log"), TlsSettings.INSECURE,
                limits)) {
            Socket first = connect(receiver);
            Socket second = connect(receiver);
            // Both slots held by peers that say nothing: a third client is closed as it is accepted.
            assertNull(ask(connect(receiver), "open web-1 0\n"));

            assertTrue(closedByReceiver(first));
            assertTrue(closedByReceiver(second));
            await().atMost(PATIENCE).until(() -> receiver.idleClosed() == 2);
            // Their slots are free: an honest primary is served.
            try (TcpOutputSink honest = new TcpOutputSink("127.0.0.1", receiver.port())) {
                assertEquals(OutputSink.NO_HISTORY, honest.open("web-1", 0));
                honest.write(0, List.of(new byte[] {1}));
            }
            assertEquals(1, OutputLog.read(receiver.file(), "web-1").size());
            assertEquals(0, receiver.requestTimeouts());
        }
    }

    @Test
    void aTricklingWriteIsClosedAtTheRequestTimeoutAndNoneOfItsRecordsIsTaken() throws Exception {
        // An idle timeout far beyond the request timeout: only the request's deadline can end the trickle.
        OutputReceiver.Limits limits = new OutputReceiver.Limits(4, Duration.ofMinutes(10), Duration.ofSeconds(1));
        try (OutputReceiver receiver = new OutputReceiver("127.0.0.1", 0, dir.resolve("out.log"), TlsSettings.INSECURE,
                limits);
             TcpOutputSink honest = new TcpOutputSink("127.0.0.1", receiver.port())) {
            honest.open("web-1", 0);
            honest.write(0, List.of(new byte[] {1}, new byte[] {2}));
            byte[] before = Files.readAllBytes(receiver.file());

            // A write of two records: the first whole, the second a hex digit at a time, never ending.
            Socket slow = connect(receiver);
            OutputStream out = slow.getOutputStream();
            out.write("write web-1 0 2 2\n03\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            await().atMost(PATIENCE).pollInterval(Duration.ofMillis(100)).until(() -> {
                try {
                    out.write('0');
                    out.flush();
                    return false;
                } catch (IOException e) {
                    return true; // the receiver has closed it: the write meets its reset
                }
            });

            assertEquals(1, receiver.requestTimeouts());
            assertEquals(0, receiver.idleClosed());
            assertArrayEquals(before, Files.readAllBytes(receiver.file()));
            assertEquals(2, receiver.acceptedRecords());
            // The honest primary goes on from where it was.
            honest.write(2, List.of(new byte[] {3}));
            assertEquals(List.of(0L, 1L, 2L), indexes(receiver.file()));
        }
    }

    @ParameterizedTest(name = "tls={0}")
    @ValueSource(booleans = {false, true})
    void aPeerThatNeverReadsItsAnswersIsClosedAtTheRequestTimeout(boolean tls) throws Exception {
        Identities identities = identities(tls);
        // An idle timeout far beyond the request timeout: the peer is never idle, it only stops reading.
        // Two slots: the first honest connection's may not be free yet when the greedy peer connects.
        OutputReceiver.Limits limits = new OutputReceiver.Limits(2, Duration.ofMinutes(10), Duration.ofSeconds(1));
        try (OutputReceiver receiver = new OutputReceiver("127.0.0.1", 0, dir.resolve("out.log"), identities.sink(),
                limits)) {
            try (TcpOutputSink honest = new TcpOutputSink("127.0.0.1", receiver.port(), identities.agent())) {
                honest.open("web-1", 5);
                honest.write(0, List.of(new byte[] {0}));
            }
            // Requests from a primary the sink has fenced: each short one answered by a long "fenced" line, until
            // the answers fill the socket's buffers and the receiver's write blocks.
            Socket greedy = identities.connect(receiver.port());
            sockets.add(greedy);
            byte[] requests = "open web-1 0\n".repeat(200_000).getBytes(StandardCharsets.US_ASCII);
            Thread sender = Thread.ofPlatform().daemon().start(() -> {
                try {
                    greedy.getOutputStream().write(requests);
                    greedy.getOutputStream().flush();
                } catch (IOException e) {
                    // closed by the receiver while it sent
                }
            });
            await().atMost(PATIENCE).until(() -> receiver.requestTimeouts() == 1);
            sender.join(PATIENCE.toMillis());
            // The sink goes on serving.
            try (TcpOutputSink honest = new TcpOutputSink("127.0.0.1", receiver.port(), identities.agent())) {
                assertEquals(1, honest.open("web-1", 5));
                honest.write(1, List.of(new byte[] {1}));
            }
            assertEquals(List.of(0L, 1L), indexes(receiver.file()));
            assertEquals(0, receiver.idleClosed());
        }
    }

    /** The sink's and an agent's identity (TLS), or plaintext for both; and a raw client socket as that agent. */
    private record Identities(TlsSettings sink, TlsSettings agent) {
        Socket connect(int port) throws Exception {
            Socket plain = new Socket();
            plain.setReceiveBufferSize(4096); // before connecting: the window it announces stays small
            plain.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            if (agent.insecure()) {
                return plain;
            }
            SSLSocket secure = (SSLSocket) Tls.sockets(TlsMaterial.load(agent, Role.SINK)).getSocketFactory()
                    .createSocket(plain, "127.0.0.1", port, true);
            secure.setEnabledProtocols(new String[] {Tls.PROTOCOL});
            secure.startHandshake();
            return secure;
        }
    }

    private Identities identities(boolean tls) throws Exception {
        if (!tls) {
            return new Identities(TlsSettings.INSECURE, TlsSettings.INSECURE);
        }
        Duration day = Duration.ofDays(1);
        Path pki = dir.resolve("pki");
        Pki.init(pki, day);
        Pki.issue(pki, "sink", Role.SINK, List.of(), day);
        Pki.issue(pki, "host-a", Role.AGENT, List.of("web-1"), day);
        return new Identities(Pki.settings(pki, "sink"), Pki.settings(pki, "host-a"));
    }

    @ParameterizedTest(name = "tls={0}")
    @ValueSource(booleans = {false, true})
    void aPrimaryWhoseIdleConnectionWasClosedReleasesAgainWithNoGapOrDuplicate(boolean tls) throws Exception {
        Identities identities = identities(tls);
        TlsSettings sinkIdentity = identities.sink();
        TlsSettings agentIdentity = identities.agent();
        OutputReceiver.Limits limits = new OutputReceiver.Limits(4, Duration.ofSeconds(2), Duration.ofSeconds(30));
        try (OutputReceiver receiver = new OutputReceiver("127.0.0.1", 0, dir.resolve("out.log"), sinkIdentity, limits);
             TcpOutputSink sink = new TcpOutputSink("127.0.0.1", receiver.port(), agentIdentity)) {
            assertEquals(OutputSink.NO_HISTORY, sink.open("web-1", 1));
            sink.write(0, List.of(new byte[] {0}, new byte[] {1}));
            await().atMost(PATIENCE).until(() -> receiver.idleClosed() == 1);

            // The guest was quiet for longer than the idle timeout: its next output still goes out, once.
            sink.write(2, List.of(new byte[] {2}));

            // As if the receiver had stored a write and then lost the connection before its answer: record 3 arrives
            // by another connection of the same primary, then this one is closed idle, then the primary (which never
            // heard back) writes 3 and 4 again. Only 4 is new.
            try (TcpOutputSink other = new TcpOutputSink("127.0.0.1", receiver.port(), agentIdentity)) {
                assertEquals(3, other.open("web-1", 1));
                other.write(3, List.of(new byte[] {3}));
            }
            await().atMost(PATIENCE).until(() -> receiver.idleClosed() == 2);
            sink.write(3, List.of(new byte[] {3}, new byte[] {4}));

            assertEquals(List.of(0L, 1L, 2L, 3L, 4L), indexes(receiver.file()));
            List<OutputLog.Record> records = OutputLog.read(receiver.file(), "web-1");
            for (OutputLog.Record record : records) {
                assertArrayEquals(new byte[] {(byte) record.index()}, record.payload());
            }
            assertEquals(0, receiver.duplicateAttempts());
            assertEquals(0, receiver.gapAttempts());
            assertEquals(5, receiver.acceptedRecords());
        }
    }

    private static List<Long> indexes(Path file) throws IOException {
        return OutputLog.read(file, "web-1").stream().map(OutputLog.Record::index).toList();
    }
}
