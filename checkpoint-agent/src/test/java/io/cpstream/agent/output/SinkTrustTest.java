package io.cpstream.agent.output;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The output sink's attacks of issue 15 over real sockets: each refused, the honest primary's output unharmed. */
class SinkTrustTest {

    private static final Duration YEAR = Duration.ofDays(365);

    @TempDir
    static Path pki;

    @TempDir
    Path dir;

    @BeforeAll
    static void issue() throws Exception {
        Pki.init(pki, YEAR);
        Pki.issue(pki, "sink", Role.SINK, List.of(), YEAR);
        Pki.issue(pki, "host-a", Role.AGENT, List.of("web-1"), YEAR);
        Pki.issue(pki, "host-x", Role.AGENT, List.of("db-*"), YEAR);
        Pki.issue(pki, "collector", Role.COLLECTOR, List.of(), YEAR);
    }

    private static TlsSettings identity(String name) {
        return TlsSettings.files(pki.resolve(name + ".crt"), pki.resolve(name + ".key"), pki.resolve("ca.crt"));
    }

    /** A raw TLS client as {@code name}: sends {@code request}, returns the first answer line (null: closed). */
    private static String raw(int port, String name, String request) throws Exception {
        try (SSLSocket socket = (SSLSocket) Tls.sockets(TlsMaterial.load(identity(name), Role.SINK)).getSocketFactory()
                .createSocket("127.0.0.1", port)) {
            socket.setEnabledProtocols(new String[] {Tls.PROTOCOL});
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            try {
                out.write(request.getBytes(StandardCharsets.US_ASCII));
                out.flush();
                return new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII))
                        .readLine();
            } catch (IOException e) {
                return null;
            }
        }
    }

    @Test
    void onlyAnAgentNamingTheVmReleasesItsOutput() throws Exception {
        try (OutputReceiver receiver = new OutputReceiver("127.0.0.1", 0, dir.resolve("out.log"), identity("sink"));
             TcpOutputSink honest = new TcpOutputSink("127.0.0.1", receiver.port(), identity("host-a"))) {
            assertEquals(OutputSink.NO_HISTORY, honest.open("web-1", 0));
            honest.write(0, List.of(new byte[] {1}, new byte[] {2}));

            // Another agent: may neither inject a record nor pre-fence the VM.
            assertTrue(raw(receiver.port(), "host-x", "write web-1 0 2 1\n03\n").startsWith("denied "));
            assertTrue(raw(receiver.port(), "host-x", "open web-1 5\n").startsWith("denied "));
            // Not an agent at all.
            assertTrue(raw(receiver.port(), "collector", "open web-1 0\n").startsWith("denied "));
            // Its own VM, but an epoch no promotion could ever exceed, or a line without end: dropped.
            assertEquals(null, raw(receiver.port(), "host-a", "open web-1 9223372036854775807\n"));
            assertEquals(null, raw(receiver.port(), "host-a", "x".repeat(1 << 20)));
            assertEquals(3, receiver.deniedRequests());

            // Plaintext: no handshake, no request.
            try (Socket plain = new Socket("127.0.0.1", receiver.port())) {
                plain.setSoTimeout(30_000);
                plain.getOutputStream().write("open web-1 9\n".getBytes(StandardCharsets.US_ASCII));
                int first;
                try {
                    first = plain.getInputStream().read();
                } catch (IOException e) {
                    first = -1;
                }
                // Nothing but the end, or a TLS alert record (content type 21): never an answer.
                assertTrue(first == -1 || first == 21, "answered " + first);
            }
            // An agent that finds anything but a sink (here a collector's certificate) refuses it.
            try (OutputReceiver impostor = new OutputReceiver("127.0.0.1", 0, dir.resolve("impostor.log"),
                    identity("collector"));
                 TcpOutputSink fooled = new TcpOutputSink("127.0.0.1", impostor.port(), identity("host-a"))) {
                assertThrows(IOException.class, () -> fooled.open("web-1", 0));
                assertEquals(0, impostor.acceptedRecords());
            }

            honest.write(2, List.of(new byte[] {3}));
            assertEquals(3, receiver.acceptedRecords());
            assertEquals(3, OutputLog.read(dir.resolve("out.log"), "web-1").size());
        }
    }
}
