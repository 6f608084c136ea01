package io.cpstream.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.output.OutputLog;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.collector.store.Durability;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.harness.chaos.TcpProxy;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.snapshot.PromotedSnapshot;
import io.cpstream.snapshot.SnapshotReplay;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.OutputTap;
import io.cpstream.tracker.kvm.KvProtocol;
import io.cpstream.tracker.kvm.KvmSource;
import io.cpstream.tracker.replay.EventLog;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Record/replay protection across a broken connection: the input log's EventLog call dies with the stream (the proxy
 * between agent and collector drops both), the agent opens a new stream, and the recorder goes on from where the
 * collector's journal ends (its Welcome says), sending no input twice and losing none. The journal then replays, on
 * top of the committed checkpoint, to exactly the primary's memory, and every answer was released once, in order.
 * With either durability: the collector handles a chunk that is not forced on the transport's thread, a forced one on
 * its pool ({@code CollectorServer.callExecutors}).
 */
class ReplayReconnectTest {

    private static final String SPEC = "emu:guest=kv,mem=8m,slots=64";
    private static final Duration PATIENCE = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Durability.class)
    void theInputLogGoesOnAfterTheConnectionBreaksAndStillReplaysToThePrimary(Durability durability) throws Exception {
        Replication.assumeBackend("emu");
        Path sink = dir.resolve("released.log");
        int requests = 0;
        byte[] primaryImage;
        PromoteResponse promoted;
        try (CollectorServer collector = CollectorServer.start(CollectorConfig.of("127.0.0.1", 0, dir.resolve("collector"))
                .withDurability(durability), new SimpleMeterRegistry());
             TcpProxy link = new TcpProxy(new InetSocketAddress("127.0.0.1", collector.port()))) {
            // Checkpoints seldom, so the journal (not a checkpoint) carries the inputs across the break.
            AgentConfig config = AgentConfig.of("127.0.0.1:" + link.port(), "kv").withEpochInterval(Duration.ofSeconds(2))
                    .withOutputSink("file:" + sink);
            SimpleMeterRegistry agentMeters = new SimpleMeterRegistry();
            OutputTap guest = new OutputTap(MemorySources.open(SPEC), (epoch, outputs) -> { });
            KvmSource kv = (KvmSource) guest.guest();
            try (guest; Agent agent = new Agent(config, guest, agentMeters)) {
                agent.protectByReplay();
                agent.start();
                await().atMost(PATIENCE).until(() -> agent.acknowledgedEpoch() > 0);
                requests = offer(kv, requests, 10);
                Replication.awaitReleased(sink, "kv", requests, PATIENCE);

                link.cut(); // the stream and the EventLog call beside it die; inputs go on being logged meanwhile
                requests = offer(kv, requests, 10);
                Thread.sleep(300);
                link.heal();
                Replication.awaitReleased(sink, "kv", requests, PATIENCE);
                assertTrue(agentMeters.get("cpstream.agent.reconnects").counter().count() >= 1, "the agent reconnected");
                requests = offer(kv, requests, 10);
                Replication.awaitReleased(sink, "kv", requests, PATIENCE);
                primaryImage = Replication.image(kv);
            }
            try (AdminClient admin = new AdminClient("127.0.0.1:" + collector.port())) {
                promoted = admin.promote("kv", true);
            }
        }
        PromotedSnapshot snapshot = PromotedSnapshot.open(Path.of(promoted.getSnapshotPath()));
        EventLog log = snapshot.eventLog().orElseThrow(() -> new AssertionError("the snapshot holds the journal"));
        try (SnapshotReplay replay = SnapshotReplay.open(snapshot, log, null)) {
            assertArrayEquals(ImageDigest.sha256(primaryImage), replay.run(PATIENCE).imageSha256(),
                    "the journal written across the break replays to the primary's memory");
        }
        List<OutputLog.Record> released = OutputLog.read(sink, "kv");
        assertEquals(requests, released.size(), "every answer released once");
        for (int i = 0; i < released.size(); i++) {
            assertEquals(i, released.get(i).index(), "no gap, no repeat in the released output indexes");
            assertEquals(i, KvProtocol.Response.decode(released.get(i).payload()).id(), "answer " + i + ", in order");
        }
    }

    private static int offer(KvmSource kv, int from, int count) {
        for (int i = from; i < from + count; i++) {
            byte[] key = ("key-" + i).getBytes(StandardCharsets.UTF_8);
            assertTrue(kv.offerInput(KvProtocol.put(i, key, ("value " + i).getBytes(StandardCharsets.UTF_8))));
        }
        return from + count;
    }
}
