package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.output.OutputReceiver;
import io.cpstream.agent.output.OutputSink;
import io.cpstream.agent.output.TcpOutputSink;
import io.cpstream.security.Pki;
import io.cpstream.security.Role;
import io.cpstream.tracker.GuestOutput;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An output sink that denies the agent (its certificate does not name the VM) stops the agent's releaser with the
 * sink's reason, instead of retrying forever while the guest's output is held (over real TLS sockets).
 */
class SinkDeniedTest {

    @TempDir
    Path dir;

    @Test
    void aDeniedAgentStopsReleasingWithTheSinksReason() throws Exception {
        Duration day = Duration.ofDays(1);
        Path pki = dir.resolve("pki");
        Pki.init(pki, day);
        Pki.issue(pki, "sink", Role.SINK, List.of(), day);
        Pki.issue(pki, "host-db", Role.AGENT, List.of("db-*"), day);
        try (OutputReceiver receiver = new OutputReceiver("127.0.0.1", 0, dir.resolve("out.log"),
                Pki.settings(pki, "sink"));
             TcpOutputSink sink = new TcpOutputSink("127.0.0.1", receiver.port(), Pki.settings(pki, "host-db"))) {
            OutputSink.DeniedException denied = assertThrows(OutputSink.DeniedException.class,
                    () -> sink.open("web-1", 0));
            assertTrue(denied.getMessage().contains("may not release output of vm web-1"), denied.getMessage());

            PrimaryLease lease = new PrimaryLease();
            lease.granted(lease.heartbeatSent(), Duration.ofMinutes(10).toNanos() / 1000);
            OutputGate gate = new OutputGate("web-1", 0, sink, lease, 1 << 20, max -> List.<GuestOutput>of());
            Thread releaser = Thread.ofPlatform().start(gate::releaseLoop);
            releaser.join(TimeUnit.SECONDS.toMillis(30));
            assertTrue(!releaser.isAlive(), "the releaser stops instead of retrying a denial");
            assertInstanceOf(OutputSink.DeniedException.class, gate.fenced());
            assertTrue(receiver.deniedRequests() >= 2);
            assertEquals(0, receiver.acceptedRecords());
        }
    }
}
