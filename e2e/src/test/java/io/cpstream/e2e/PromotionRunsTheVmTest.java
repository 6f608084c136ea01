package io.cpstream.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.SnapshotRun;
import io.cpstream.cli.CliRun;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.harness.LocalReplication;
import io.cpstream.harness.ObservedOutputs;
import io.cpstream.snapshot.PromotedSnapshot;
import io.cpstream.snapshot.Snapshots;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.OutputTap;
import io.cpstream.tracker.kvm.KvProtocol;
import io.cpstream.tracker.kvm.KvmSource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Promotion runs the VM: the demo promotes the standby and runs the promoted VM from its snapshot,
 * checking from both output streams that its output carries on right after the promoted epoch's last
 * output; {@code run} restores a snapshot, and with a collector protects the restored VM again, so a
 * second promotion continues the stream once more; a promoted kv store answers with the values committed
 * before promotion. Each guest-VM case runs on KVM (skipping with the reason where /dev/kvm is missing)
 * and on the emulated CPU ({@code emu}, everywhere libunicorn2 is installed).
 */
class PromotionRunsTheVmTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kvm", "emu"})
    void guestVmDemoVerifiesTheImageAndTheGuestOutputContinues(String kind) throws Exception {
        Replication.assumeBackend(kind);
        Path data = dir.resolve("data");
        JsonNode demo = cliJson(0, "demo", "--source", kind, "--seconds", "3", "--data-dir", data.toString(), "--json");
        assertTrue(demo.get("verified").asBoolean(), demo.toString());
        assertTrue(demo.get("guest_output_continuous").asBoolean(), demo.toString());
        assertEquals(kind + ":guest=counter,mem=16m", demo.get("source").asText(), "the default source the README names");
        long lastIndex = demo.get("primary_last_output_of_epoch").get("index").asLong();
        assertEquals(lastIndex + 1, demo.get("promoted_first_output").get("index").asLong());

        // The snapshot runs again, as often as asked, from the same instant.
        JsonNode run = cliJson(0, "run", "--snapshot", demo.get("snapshot").asText(), "--seconds", "1", "--json");
        assertEquals(demo.get("promoted_first_output").toString(), run.get("first_output").toString());
        assertEquals(kind, run.get("source").asText().split(":")[0]);
    }

    @Test
    void simDemoVerifiesTheImageAndTheGuestOutputContinues() throws Exception {
        Path data = dir.resolve("data");
        JsonNode demo = cliJson(0, "demo", "--source", "sim:mem=4m,rate=20000,outputs=500", "--seconds", "2",
                "--data-dir", data.toString(), "--json");
        assertTrue(demo.get("verified").asBoolean(), demo.toString());
        assertTrue(demo.get("guest_output_continuous").asBoolean(), demo.toString());

        JsonNode run = cliJson(0, "run", "--snapshot", demo.get("snapshot").asText(), "--seconds", "1", "--json");
        assertEquals(demo.get("promoted_first_output").toString(), run.get("first_output").toString());
        assertTrue(run.get("outputs").asLong() > 1, run.toString());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kvm", "emu"})
    void guestVmPromotedIsProtectedAgainAndASecondPromotionContinuesItsOutput(String kind) throws Exception {
        Replication.assumeBackend(kind);
        JsonNode demo = cliJson(0, "demo", "--source", kind + ":guest=counter,mem=8m", "--seconds", "2",
                "--data-dir", dir.resolve("first").toString(), "--json");
        assertTrue(demo.get("guest_output_continuous").asBoolean(), demo.toString());
        Path firstSnapshot = Path.of(demo.get("snapshot").asText());

        try (CollectorServer collector = CollectorServer.start(CollectorConfig.of("127.0.0.1", 0, dir.resolve("second")),
                new SimpleMeterRegistry())) {
            PromotedSnapshot snapshot = PromotedSnapshot.open(firstSnapshot);
            AgentConfig protect = AgentConfig.of("127.0.0.1:" + collector.port(), "again")
                    .withFencingEpoch(snapshot.manifest().fencingEpoch()).withVerify(true);
            PromoteResponse promoted;
            GuestOutput lastOfEpoch;
            ObservedOutputs outputs = new ObservedOutputs(null);
            try (SnapshotRun run = new SnapshotRun(snapshot, outputs, protect, new SimpleMeterRegistry())) {
                run.start();
                await().atMost(Duration.ofSeconds(120)).until(() -> {
                    run.check();
                    return run.agent().acknowledgedEpoch() >= 5 && run.agent().outputsReleased() > 0;
                });
                try (AdminClient admin = new AdminClient("127.0.0.1:" + collector.port())) {
                    promoted = admin.promote("again", true);
                }
                assertEquals(promoted.getPrimaryImageSha256(), promoted.getImageSha256(),
                        "the second standby is the restored VM at the promoted epoch");
                // A fresh agent on a fresh standby: epoch N is the restored VM's N-th stun.
                lastOfEpoch = outputs.lastUpTo(promoted.getPromotedEpoch());
                assertNotNull(lastOfEpoch, "the restored VM emitted output before the second promotion");
                assertTrue(lastOfEpoch.index() >= demo.get("promoted_first_output").get("index").asLong());
            }
            JsonNode second = cliJson(0, "run", "--snapshot", promoted.getSnapshotPath(), "--seconds", "1", "--json");
            assertEquals(lastOfEpoch.index() + 1, second.get("first_output").get("index").asLong(), second.toString());
            assertEquals(Long.toString(lastOfEpoch.longValue() + 1), second.get("first_output").get("value").asText());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"kvm", "emu"})
    void guestVmPromotedKvStoreAnswersWithTheValuesCommittedBeforePromotion(String kind) throws Exception {
        Replication.assumeBackend(kind);
        int keys = 12;
        ObservedOutputs responses = new ObservedOutputs(null);
        AgentConfig config = AgentConfig.of("unused", "kv").withVerify(true);
        try (LocalReplication primary = new LocalReplication(kind + ":guest=kv,mem=8m,slots=64", dir, config, responses)) {
            KvmSource kv = (KvmSource) ((OutputTap) primary.guest).guest();
            primary.start();
            for (int i = 0; i < keys; i++) {
                assertTrue(kv.offerInput(KvProtocol.put(i, key(i), value(i))));
            }
            // The stuns drain the responses; once every put is answered and that epoch is committed, promote.
            await().atMost(Duration.ofSeconds(120)).until(() -> responses.count() >= keys
                    && primary.agent.acknowledgedEpoch() >= responses.lastEpoch());
            PromoteResponse promoted;
            try (AdminClient admin = new AdminClient("127.0.0.1:" + primary.collector.port())) {
                promoted = admin.promote("kv", true);
            }
            primary.stopPrimary();
            assertEquals(promoted.getPrimaryImageSha256(), promoted.getImageSha256());

            try (KvmSource standby = (KvmSource) PromotedSnapshot.open(Path.of(promoted.getSnapshotPath())).restore()) {
                standby.start();
                for (int i = 0; i < keys; i++) {
                    long id = 1000 + i;
                    assertTrue(standby.offerInput(KvProtocol.get(id, key(i))));
                    KvProtocol.Response response = awaitResponse(standby, id);
                    assertTrue(response.ok(), "get " + i + ": " + response);
                    assertEquals(new String(value(i), StandardCharsets.UTF_8),
                            new String(response.value(), StandardCharsets.UTF_8));
                }
            }
        }
    }

    @Test
    void runRefusesWhatIsNotAnIntactSnapshot() throws Exception {
        CliRun missing = CliRun.of("run", "--snapshot", dir.resolve("nothing").toString(), "--json");
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("is not a snapshot"), missing.err());
        assertEquals("", missing.out());

        JsonNode demo = cliJson(0, "demo", "--source", "sim:mem=1m,rate=5000", "--seconds", "1",
                "--data-dir", dir.resolve("data").toString(), "--json");
        Path snapshot = Path.of(demo.get("snapshot").asText());
        CliRun halfFlags = CliRun.of("run", "--snapshot", snapshot.toString(), "--collector", "127.0.0.1:1");
        assertEquals(1, halfFlags.code());
        assertTrue(halfFlags.err().contains("--collector and --vm go together"), halfFlags.err());

        try (var channel = java.nio.channels.FileChannel.open(snapshot.resolve(Snapshots.MEMORY), StandardOpenOption.WRITE)) {
            channel.write(java.nio.ByteBuffer.wrap(new byte[] {42}), 4096 * 3 + 17);
        }
        CliRun corrupt = CliRun.of("run", "--snapshot", snapshot.toString(), "--json");
        assertEquals(1, corrupt.code());
        assertTrue(corrupt.err().contains("is corrupt"), corrupt.err());

        CliRun reused = CliRun.of("demo", "--seconds", "1", "--data-dir", dir.resolve("data").toString());
        assertEquals(1, reused.code());
        assertTrue(reused.err().contains("already holds demo-vm"), reused.err());
        assertTrue(Files.exists(snapshot.resolve(Snapshots.MANIFEST)));
    }

    private static byte[] key(int i) {
        return ("key-" + i).getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] value(int i) {
        return ("value of key " + i + " before promotion").getBytes(StandardCharsets.UTF_8);
    }

    private static KvProtocol.Response awaitResponse(KvmSource guest, long id) {
        KvProtocol.Response[] found = new KvProtocol.Response[1];
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            guest.fault().ifPresent(f -> {
                throw new AssertionError("restored guest faulted: " + f);
            });
            for (GuestOutput output : guest.pollOutputs()) {
                KvProtocol.Response response = KvProtocol.Response.decode(output.payload());
                if (response.id() == id) {
                    found[0] = response;
                }
            }
            return found[0] != null;
        });
        return found[0];
    }

    private static JsonNode cliJson(int expectedCode, String... args) throws Exception {
        CliRun result = CliRun.of(args);
        assertEquals(expectedCode, result.code(), "exit code of " + String.join(" ", args) + "; stderr: " + result.err()
                + "; stdout: " + result.out());
        String[] lines = result.out().strip().split("\n");
        return JSON.readTree(lines[lines.length - 1]);
    }
}
