package io.cpstream.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.output.OutputLog;
import io.cpstream.agent.output.OutputReceiver;
import io.cpstream.agent.output.OutputSink;
import io.cpstream.agent.output.TcpOutputSink;
import io.cpstream.cli.SinkAuthority;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.security.Pki;
import io.cpstream.security.Role;
import io.cpstream.security.TlsSettings;
import io.cpstream.tracker.MemorySource;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An output sink with a fencing authority (issue 15: "fencing epochs belong to the authority, never to the client"),
 * over mutual TLS and real sockets: an agent holding a valid certificate for the VM presents an epoch no promotion
 * granted and is denied, so the honest primary goes on releasing; a promotion's raised epoch fences the old primary
 * at the sink at once; the authority is a real collector (asked with the sink's own certificate, which may ask for
 * fencing epochs and nothing else) or a real ZooKeeper, and its loss stops no primary at the epoch it confirmed.
 */
class SinkFencingAuthorityTest {

    private static final Duration YEAR = Duration.ofDays(365);

    @TempDir
    static Path pki;

    @TempDir
    Path dir;

    @BeforeAll
    static void issue() throws Exception {
        Pki.init(pki, YEAR);
        Pki.issue(pki, "collector", Role.COLLECTOR, List.of(), YEAR);
        Pki.issue(pki, "sink", Role.SINK, List.of(), YEAR);
        Pki.issue(pki, "host-a", Role.AGENT, List.of("web-*"), YEAR);
        Pki.issue(pki, "ops", Role.ADMIN, List.of(), YEAR);
    }

    private static TlsSettings identity(String name) {
        return TlsSettings.files(pki.resolve(name + ".crt"), pki.resolve(name + ".key"), pki.resolve("ca.crt"));
    }

    @Test
    void theCollectorsEpochIsTheOnlyOneTheSinkTakes() throws Exception {
        try (CollectorServer collector = collector(null);
             SinkAuthority authority = SinkAuthority.open("127.0.0.1:" + collector.port(), identity("sink"));
             OutputReceiver sink = sink(authority);
             MemorySource guest = Replication.sim("mem=2m,rate=5000,outputs=500");
             Agent primary = agent(collector, sink, guest)) {
            await().atMost(Replication.PATIENCE).until(() -> primary.outputsReleased() > 20);

            // The same certificate as the honest primary's (stolen, or a second agent process of that host), an epoch
            // made up: refused, nothing fenced.
            try (TcpOutputSink forger = new TcpOutputSink("127.0.0.1", sink.port(), identity("host-a"))) {
                assertThrows(OutputSink.DeniedException.class, () -> forger.open("web-1", 7));
            }
            try (TcpOutputSink forger = new TcpOutputSink("127.0.0.1", sink.port(), identity("host-a"))) {
                assertThrows(OutputSink.DeniedException.class, () -> forger.open("web-1", Long.MAX_VALUE - 1));
            }
            assertEquals(2, sink.ungrantedEpochs());
            long released = primary.outputsReleased();
            await().atMost(Replication.PATIENCE).until(() -> primary.outputsReleased() > released + 20);
            assertEquals(null, primary.failure(), "the honest primary goes on");

            // The sink's certificate asks for fencing epochs and nothing more.
            try (AdminClient asSink = new AdminClient("127.0.0.1:" + collector.port(), identity("sink"))) {
                assertEquals(0, asSink.fencingEpoch("web-1", 10_000));
                StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> asSink.get("web-1"));
                assertEquals(Status.Code.PERMISSION_DENIED, refused.getStatus().getCode());
            }

            // A promotion raises the epoch: the sink fences the old primary from the authority's word alone, before
            // any new primary has opened it.
            try (AdminClient ops = new AdminClient("127.0.0.1:" + collector.port(), identity("ops"))) {
                assertEquals(1, ops.promote("web-1", true).getFencingEpoch());
            }
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
                try (TcpOutputSink old = new TcpOutputSink("127.0.0.1", sink.port(), identity("host-a"))) {
                    assertThrows(OutputSink.FencedException.class, () -> old.open("web-1", 0));
                }
            });
            try (TcpOutputSink successor = new TcpOutputSink("127.0.0.1", sink.port(), identity("host-a"))) {
                long next = successor.open("web-1", 1);
                assertEquals(OutputLog.read(sink.file(), "web-1").size(), next, "the successor resumes where output stands");
            }
            // A VM no collector holds has no epoch yet: a passing refusal (its primary may not be admitted yet).
            try (TcpOutputSink stranger = new TcpOutputSink("127.0.0.1", sink.port(), identity("host-a"))) {
                IOException waits = assertThrows(IOException.class, () -> stranger.open("web-2", 0));
                assertTrue(waits.getMessage().contains("no fencing epoch for it yet"), waits.getMessage());
            }
        }
    }

    @Test
    void zooKeeperIsTheAuthorityAndItsLossStopsNoPrimaryAtTheConfirmedEpoch() throws Exception {
        try (TestingServer zookeeper = new TestingServer(true);
             CollectorServer collector = collector(zookeeper.getConnectString());
             SinkAuthority authority = SinkAuthority.open("zk:" + zookeeper.getConnectString(), identity("sink"));
             OutputReceiver sink = sink(authority);
             MemorySource guest = Replication.sim("mem=2m,rate=5000,outputs=500");
             Agent primary = agent(collector, sink, guest)) {
            await().atMost(Replication.PATIENCE).until(() -> primary.outputsReleased() > 20);
            try (TcpOutputSink forger = new TcpOutputSink("127.0.0.1", sink.port(), identity("host-a"))) {
                assertThrows(OutputSink.DeniedException.class, () -> forger.open("web-1", 1));
            }

            zookeeper.stop();
            // ZooKeeper gone: the epoch it confirmed still opens the sink; one it never confirmed must wait.
            try (TcpOutputSink same = new TcpOutputSink("127.0.0.1", sink.port(), identity("host-a"))) {
                same.open("web-1", 0);
            }
            try (TcpOutputSink unconfirmed = new TcpOutputSink("127.0.0.1", sink.port(), identity("host-a"))) {
                IOException waits = assertThrows(IOException.class, () -> unconfirmed.open("web-1", 1));
                assertTrue(waits.getMessage().contains("cannot check"), waits.getMessage());
                assertTrue(!(waits instanceof OutputSink.DeniedException) && !(waits instanceof OutputSink.FencedException),
                        "a passing refusal, not a final one: " + waits);
            }
            assertTrue(sink.authorityUnavailable() >= 1);
            assertEquals(1, sink.ungrantedEpochs());
            zookeeper.restart(); // else closing the collector's and the sink's sessions waits out their retries
        }
    }

    private CollectorServer collector(String zookeeper) throws IOException {
        CollectorConfig config = CollectorConfig.of("127.0.0.1", 0, dir.resolve("collector"))
                .withLease(Duration.ofSeconds(1)).withTls(identity("collector"));
        return CollectorServer.start(zookeeper == null ? config : config.withZooKeeper(zookeeper),
                new SimpleMeterRegistry());
    }

    private OutputReceiver sink(SinkAuthority authority) throws IOException {
        return new OutputReceiver("127.0.0.1", 0, dir.resolve("out.log"), identity("sink"),
                OutputReceiver.Limits.DEFAULT, authority);
    }

    private static Agent agent(CollectorServer collector, OutputReceiver sink, MemorySource guest) {
        Agent agent = new Agent(AgentConfig.of("127.0.0.1:" + collector.port(), "web-1")
                .withHeartbeatInterval(Duration.ofMillis(100)).withTls(identity("host-a"))
                .withOutputSink("tcp://127.0.0.1:" + sink.port()), guest, new SimpleMeterRegistry());
        agent.start();
        return agent;
    }
}
