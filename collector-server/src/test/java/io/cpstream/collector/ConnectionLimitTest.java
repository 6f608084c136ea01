package io.cpstream.collector;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.ListVmsRequest;
import io.cpstream.security.Pki;
import io.cpstream.security.Role;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.cpstream.security.TlsSettings;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The collector's connection limits over real sockets: a connection beyond {@code max-connections} is closed as it
 * is accepted, one that stalls before or after TLS is closed at the handshake timeout, an idle one at the idle
 * timeout; and an honest client gets in again once the stalled ones are gone.
 */
class ConnectionLimitTest {

    private static final int MAX = 4;
    private static final Duration HANDSHAKE = Duration.ofMillis(1500);
    private static final Duration IDLE = Duration.ofMillis(1500);

    @TempDir
    Path dir;

    private SimpleMeterRegistry meters;
    private CollectorServer server;
    private TlsSettings admin;
    private final List<Socket> sockets = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        Pki.Throwaway pki = Pki.throwaway(dir.resolve("pki"), "*");
        admin = pki.admin();
        meters = new SimpleMeterRegistry();
        CollectorConfig config = CollectorConfig.of("127.0.0.1", 0, dir.resolve("data")).withTls(pki.collector())
                .withQuotas(CollectorConfig.Quotas.DEFAULT.withConnections(
                        new CollectorConfig.Connections(MAX, HANDSHAKE, IDLE)));
        server = CollectorServer.start(config, meters);
    }

    @AfterEach
    void stop() throws IOException {
        for (Socket socket : sockets) {
            socket.close();
        }
        channels.forEach(ManagedChannel::shutdownNow);
        server.close();
    }

    private Socket connect() throws IOException {
        Socket socket = new Socket();
        sockets.add(socket);
        socket.connect(new InetSocketAddress("127.0.0.1", server.port()), 5000);
        return socket;
    }

    /** Whether the collector closed {@code socket} within {@code within} (end of stream or a reset). */
    private static boolean closedByPeer(Socket socket, Duration within) throws IOException {
        socket.setSoTimeout((int) within.toMillis());
        InputStream in = socket.getInputStream();
        try {
            byte[] buffer = new byte[4096];
            long deadline = System.nanoTime() + within.toNanos();
            while (System.nanoTime() < deadline) {
                if (in.read(buffer) < 0) {
                    return true;
                }
            }
            return false;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset
        }
    }

    private double gauge(String name) {
        return meters.get(name).gauge().value();
    }

    private ManagedChannel adminChannel() throws Exception {
        ManagedChannel channel = Tls.secure(NettyChannelBuilder.forTarget("127.0.0.1:" + server.port()), admin,
                Role.COLLECTOR).build();
        channels.add(channel);
        return channel;
    }

    @Test
    void connectionsBeyondTheLimitAreClosedAsAcceptedAndStalledOnesAtTheHandshakeTimeout() throws Exception {
        List<Socket> stalled = new ArrayList<>();
        for (int i = 0; i < MAX; i++) {
            stalled.add(connect()); // plain TCP, never a byte: a slowloris peer
        }
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> gauge("cpstream.collector.connections") == MAX);

        Socket extra = connect();
        assertTrue(closedByPeer(extra, Duration.ofMillis(1000)), "a connection beyond the limit is closed at once");
        assertEquals(1.0, meters.get("cpstream.collector.connections.refused").functionCounter().count());

        // The stalled ones do not hold their places: each is closed at the handshake timeout.
        for (Socket socket : stalled) {
            assertTrue(closedByPeer(socket, HANDSHAKE.plusSeconds(10)), "a stalled connection is closed");
        }
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> gauge("cpstream.collector.connections") == 0);

        // And an honest client gets in.
        AdminGrpc.newBlockingStub(adminChannel()).withDeadlineAfter(30, TimeUnit.SECONDS)
                .listVms(ListVmsRequest.getDefaultInstance());
    }

    @Test
    void aPeerThatCompletesTlsAndThenSaysNothingIsClosed() throws Exception {
        TlsMaterial material = TlsMaterial.load(Pki.settings(dir.resolve("pki"), "agent"), Role.COLLECTOR);
        SSLSocket tls = (SSLSocket) Tls.sockets(material).getSocketFactory()
                .createSocket(connect(), "127.0.0.1", server.port(), true);
        SSLParameters parameters = tls.getSSLParameters();
        parameters.setApplicationProtocols(new String[] {"h2"});
        tls.setSSLParameters(parameters);
        tls.startHandshake(); // authenticated, then not a byte of HTTP/2
        assertTrue(closedByPeer(tls, HANDSHAKE.plus(IDLE).plusSeconds(10)),
                "an authenticated connection that never speaks HTTP/2 is closed");
    }

    @Test
    void anIdleConnectionIsClosedAtTheIdleTimeout() throws Exception {
        ManagedChannel channel = adminChannel();
        AdminGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .listVms(ListVmsRequest.getDefaultInstance());
        assertEquals(ConnectivityState.READY, channel.getState(false));
        // The collector sends GOAWAY once the connection had no call for the idle timeout: the channel leaves READY.
        Awaitility.await().atMost(IDLE.plusSeconds(10))
                .until(() -> channel.getState(false) != ConnectivityState.READY);
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> gauge("cpstream.collector.connections") == 0);
    }
}
