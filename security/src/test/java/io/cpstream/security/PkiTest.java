package io.cpstream.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PkiTest {

    private static final Duration YEAR = Duration.ofDays(365);

    @TempDir
    Path dir;

    @Test
    void issuedIdentitiesCarryRoleAndVmsAndKeysArePrivate() throws Exception {
        Path pki = dir.resolve("pki");
        Pki.init(pki, YEAR);
        Pki.Issued agent = Pki.issue(pki, "host-a", Role.AGENT, List.of("web-*", "db-1"), YEAR);
        assertEquals(new Identity("host-a", Role.AGENT, List.of("web-*", "db-1"), true), agent.identity());
        assertEquals(Identity.of(PemFiles.certificates(pki.resolve("host-a.crt")).getFirst()), agent.identity());
        for (String file : List.of("ca.key", "host-a.key")) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(pki.resolve(file))));
        }
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(pki)));
        assertTrue(agent.identity().mayProtect("web-1"));
        assertTrue(agent.identity().mayProtect("db-1"));
        assertFalse(agent.identity().mayProtect("db-2"));
        assertFalse(agent.identity().mayProtect("web"));
        assertFalse(agent.identity().hasRole(Role.ADMIN));
        Identity admin = Pki.issue(pki, "ops", Role.ADMIN, List.of(), YEAR).identity();
        assertTrue(admin.hasRole(Role.ADMIN, Role.READER));
        assertFalse(admin.mayProtect("web-1"));
    }

    @Test
    void refusesWhatWouldBeWrong() throws Exception {
        Path pki = dir.resolve("pki");
        assertThrows(PkiException.class, () -> Pki.issue(pki, "a", Role.AGENT, List.of("x"), YEAR));
        Pki.init(pki, YEAR);
        assertThrows(PkiException.class, () -> Pki.init(pki, YEAR));
        assertThrows(PkiException.class, () -> Pki.issue(pki, "a", Role.AGENT, List.of(), YEAR));
        assertThrows(PkiException.class, () -> Pki.issue(pki, "a", Role.ADMIN, List.of("web-1"), YEAR));
        assertThrows(PkiException.class, () -> Pki.issue(pki, "../a", Role.ADMIN, List.of(), YEAR));
        assertThrows(PkiException.class, () -> Pki.issue(pki, "a", Role.AGENT, List.of("web/1"), YEAR));
    }

    @Test
    void patterns() {
        assertTrue(Identity.matches("*", "anything"));
        assertTrue(Identity.matches("web-*-eu", "web-1-eu"));
        assertFalse(Identity.matches("web-*-eu", "web-1-us"));
        assertTrue(Identity.matches("a*b*c", "abc"));
        assertFalse(Identity.matches("web-1", "web-10"));
    }

    private static TlsSettings files(Path pki, String name) {
        return TlsSettings.files(pki.resolve(name + ".crt"), pki.resolve(name + ".key"), pki.resolve("ca.crt"));
    }

    /** One TLS 1.3 exchange over a real socket; returns the identity the server saw, or throws what the client saw. */
    private static Identity exchange(SSLContext server, SSLContext client) throws Exception {
        try (SSLServerSocket listener = (SSLServerSocket) server.getServerSocketFactory().createServerSocket(0)) {
            listener.setNeedClientAuth(true);
            listener.setEnabledProtocols(new String[] {Tls.PROTOCOL});
            CompletableFuture<Identity> seen = CompletableFuture.supplyAsync(() -> {
                try (SSLSocket socket = (SSLSocket) listener.accept()) {
                    socket.startHandshake();
                    Identity peer = Tls.peer(socket.getSession());
                    socket.getInputStream().read();
                    socket.getOutputStream().write(1);
                    return peer;
                } catch (IOException e) {
                    return null;
                }
            });
            try (SSLSocket socket = (SSLSocket) client.getSocketFactory().createSocket("127.0.0.1", listener.getLocalPort())) {
                socket.setEnabledProtocols(new String[] {Tls.PROTOCOL});
                OutputStream out = socket.getOutputStream();
                out.write(1);
                out.flush();
                InputStream in = socket.getInputStream();
                if (in.read() != 1) {
                    throw new SSLException("no answer");
                }
            }
            return seen.get();
        }
    }

    @Test
    void mutualTlsChecksChainAndRoleAndReloadsRotatedFiles() throws Exception {
        Path pki = dir.resolve("pki");
        Pki.init(pki, YEAR);
        Pki.issue(pki, "collector", Role.COLLECTOR, List.of(), YEAR);
        Pki.issue(pki, "agent", Role.AGENT, List.of("web-1"), YEAR);
        Pki.issue(pki, "ops", Role.ADMIN, List.of(), YEAR);
        SSLContext server = Tls.sockets(TlsMaterial.load(files(pki, "collector"), null));
        TlsMaterial agentMaterial = TlsMaterial.load(files(pki, "agent"), Role.COLLECTOR);
        Identity seen = exchange(server, Tls.sockets(agentMaterial));
        assertEquals(Role.AGENT, seen.role());
        assertEquals("agent", seen.name());

        // A client that expects a sink refuses the collector.
        assertThrows(Exception.class, () -> exchange(server,
                Tls.sockets(TlsMaterial.load(files(pki, "agent"), Role.SINK))));

        // A certificate from another CA is refused.
        Path other = dir.resolve("other");
        Pki.init(other, YEAR);
        Pki.issue(other, "agent", Role.AGENT, List.of("web-1"), YEAR);
        TlsSettings foreign = TlsSettings.files(other.resolve("agent.crt"), other.resolve("agent.key"),
                pki.resolve("ca.crt"));
        assertThrows(PkiException.class, () -> TlsMaterial.load(foreign, Role.COLLECTOR));
        TlsSettings foreignTrusting = TlsSettings.files(other.resolve("agent.crt"), other.resolve("agent.key"),
                other.resolve("ca.crt"));
        assertThrows(Exception.class, () -> exchange(server, Tls.sockets(TlsMaterial.load(foreignTrusting, null))));

        // Rotation: the agent's identity is issued again with other VMs; the same material presents the new one.
        Pki.issue(pki, "agent", Role.AGENT, List.of("db-*"), YEAR);
        assertEquals(List.of("db-*"), exchange(server, Tls.sockets(agentMaterial)).vmPatterns());
        assertEquals(List.of("db-*"), agentMaterial.identity().vmPatterns());
    }
}
