package io.cpstream.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cpstream.agent.AgentConfig;
import io.cpstream.cli.CliRun;
import io.cpstream.agent.SnapshotRun;
import io.cpstream.agent.output.OutputLog;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.harness.LocalReplication;
import io.cpstream.harness.ObservedOutputs;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.snapshot.PromotedSnapshot;
import io.cpstream.snapshot.SnapshotReplay;
import io.cpstream.tracker.OutputTap;
import io.cpstream.tracker.RecordReplay;
import io.cpstream.tracker.kvm.KvProtocol;
import io.cpstream.tracker.kvm.KvmSource;
import io.cpstream.tracker.replay.EventLog;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Record/replay protection ({@code agent --protect replay}) end to end: a kv guest on {@code emu} streams its
 * inputs to the collector, which journals them; outputs are released once their inputs are journaled. After the
 * primary dies and the standby is promoted, the snapshot's replay of the journal ends with the primary's memory,
 * and the promoted VM, releasing into the same sink, continues the released outputs with no gap and no repeat.
 */
class ReplayProtectionTest {

    private static final String SPEC = "emu:guest=kv,mem=8m,slots=64";
    private static final Duration PATIENCE = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    @Test
    void aPromotedVmReplaysTheJournalAndContinuesTheReleasedOutputs() throws Exception {
        Replication.assumeBackend("emu");
        Path sink = dir.resolve("released.log");
        // One checkpoint (the first, full one) in the whole run: every request then reaches the standby as journaled
        // input after it, which the promotion must replay. With checkpoints every 700 ms, one taken after the last
        // request left nothing to replay, and the traces below had nothing to record (seen once under load).
        AgentConfig config = AgentConfig.of("unused", "kv").withEpochInterval(Duration.ofMinutes(10))
                .withOutputSink("file:" + sink);
        int requests = 0;
        byte[] primaryImage;
        long idleAt;
        PromoteResponse promoted;
        try (LocalReplication primary = new LocalReplication(SPEC, dir.resolve("first"), config)) {
            KvmSource kv = (KvmSource) ((OutputTap) primary.guest).guest();
            primary.agent.protectByReplay(dir.resolve("primary-inputs.journal"));
            primary.start();
            primary.awaitFirstCommit(PATIENCE);
            for (int round = 0; round < 4; round++) {
                for (int i = 0; i < 10; i++, requests++) {
                    assertTrue(kv.offerInput(KvProtocol.put(requests, key(requests), value(requests))));
                }
                Replication.awaitReleased(sink, "kv", requests, PATIENCE);
            }
            // Every request is answered and released. The image is read once the guest waits in its input poll and
            // the journal reaches that poll, where the replay below stops. A release does not wait for the guest to
            // get there: read at once, a vCPU thread preempted right after its last output had not yet written the
            // call into the poll onto its stack (a mismatch seen once under the whole suite's load).
            RecordReplay recorded = kv.recordReplay().orElseThrow();
            await().atMost(PATIENCE).until(() -> recorded.waitingForInput()
                    && primary.agent.eventLogAcknowledgedEnd() == recorded.portOrdinal());
            idleAt = recorded.portOrdinal();
            primaryImage = Replication.image(kv);
            primary.stopPrimary();
            try (AdminClient admin = new AdminClient("127.0.0.1:" + primary.collector.port())) {
                promoted = admin.promote("kv", true);
            }
        }
        PromotedSnapshot snapshot = PromotedSnapshot.open(Path.of(promoted.getSnapshotPath()));
        EventLog log = snapshot.eventLog().orElseThrow(() -> new AssertionError("the snapshot holds the journal"));
        assertTrue(log.end() > log.from(), "inputs after the checkpoint were journaled: " + log);
        // At that poll or a later one (one the primary's stop ended, logged as an empty poll): memory is the same.
        assertTrue(log.end() >= idleAt, "the journal reaches the input poll the idle primary waits in, " + idleAt
                + ": " + log);

        // Replayed from the committed checkpoint to the last journaled input: the primary's memory there.
        try (SnapshotReplay replay = SnapshotReplay.open(snapshot, log, null)) {
            SnapshotReplay.Result result = replay.run(PATIENCE);
            assertArrayEquals(ImageDigest.sha256(primaryImage), result.imageSha256(),
                    "replaying the journal ends with the primary's image");
        }

        // The same through the launcher: deterministic, with a dirty-page trace of the replay, and a bad log refused.
        JsonNode first = cliJson("replay", "--snapshot", snapshot.directory().toString(), "--json");
        assertTrue(first.get("replayed_until").asLong() > first.get("replayed_from").asLong(),
                "the promotion has journaled inputs to replay: " + first);
        Path trace = dir.resolve("replay.trace");
        JsonNode traced = cliJson("replay", "--snapshot", snapshot.directory().toString(), "--trace", "pages",
                "--out", trace.toString(), "--trace-ms", "2", "--json");
        // Instruction by instruction, store by store, port by port: the same replay, and every port access in it.
        Path execution = dir.resolve("replay.xtrace");
        JsonNode stepped = cliJson("replay", "--snapshot", snapshot.directory().toString(), "--trace",
                "instructions,memory,ports", "--out", execution.toString(), "--json");
        assertEquals(first.get("image_sha256"), stepped.get("image_sha256"), "a traced replay ends the same");
        long accesses = stepped.get("replayed_until").asLong() - stepped.get("replayed_from").asLong();
        assertEquals(accesses, stepped.get("trace_port_ins").asLong() + stepped.get("trace_port_outs").asLong(),
                stepped.toString());
        assertTrue(stepped.get("trace_instructions").asLong() > stepped.get("trace_memory_writes").asLong()
                && stepped.get("trace_memory_writes").asLong() > 0, stepped.toString());
        var summary = io.cpstream.tracker.replay.ExecutionTrace.read(execution, entry -> { });
        assertEquals(stepped.get("trace_records").asLong(), summary.records());
        CliRun mixed = CliRun.of("replay", "--snapshot", snapshot.directory().toString(), "--trace", "pages,ports",
                "--out", execution.toString(), "--json");
        assertEquals(1, mixed.code(), mixed.out());
        assertTrue(mixed.err().contains("of its own format"), mixed.err());
        assertEquals(ImageDigest.hex(ImageDigest.sha256(primaryImage)), first.get("image_sha256").asText());
        assertEquals(first.get("image_sha256"), traced.get("image_sha256"), "two replays of one log, one image");
        assertEquals(first.get("outputs"), traced.get("outputs"));
        // The primary's own copy of its inputs, replayed on a guest booted afresh to the same access: the same memory.
        JsonNode fromBoot = cliJson("replay", "--boot", SPEC, "--log", dir.resolve("primary-inputs.journal").toString(),
                "--until", first.get("replayed_until").asText(), "--json");
        assertEquals(first.get("image_sha256"), fromBoot.get("image_sha256"), fromBoot.toString());
        assertEquals(0, fromBoot.get("replayed_from").asLong(), "from boot");
        assertTrue(traced.get("trace_epochs").asInt() >= 1, traced.toString());
        try (var reader = new io.cpstream.tracker.trace.TraceReader(trace)) {
            assertEquals(snapshot.manifest().pageCount(), reader.header().pageCount());
        }
        byte[] bad = log.encode();
        bad[EventLog.HEADER + 2] ^= 0x40;
        Path badLog = dir.resolve("bad.log");
        java.nio.file.Files.write(badLog, bad);
        CliRun refused = CliRun.of("replay", "--snapshot", snapshot.directory().toString(), "--log", badLog.toString(),
                "--json");
        assertEquals(1, refused.code(), refused.out());
        assertTrue(refused.err().contains("refused"), refused.err());
        PromotedSnapshot.open(snapshot.directory()); // its files still match their digests

        // The promoted VM, protected by another collector, releasing into the same sink.
        try (CollectorServer second = CollectorServer.start(CollectorConfig.of("127.0.0.1", 0, dir.resolve("second")),
                new SimpleMeterRegistry())) {
            AgentConfig protect = AgentConfig.of("127.0.0.1:" + second.port(), "kv")
                    .withFencingEpoch(snapshot.manifest().fencingEpoch()).withOutputSink("file:" + sink)
                    .withEpochInterval(Duration.ofMillis(100));
            try (SnapshotRun run = new SnapshotRun(snapshot, new ObservedOutputs(null), protect, new SimpleMeterRegistry())) {
                run.start();
                KvmSource kv = (KvmSource) run.guest();
                for (int i = 0; i < 10; i++, requests++) {
                    assertTrue(kv.offerInput(KvProtocol.put(requests, key(requests), value(requests))));
                }
                int want = requests;
                await().atMost(PATIENCE).until(() -> {
                    run.check();
                    return OutputLog.read(sink, "kv").size() >= want;
                });
            }
        }
        List<OutputLog.Record> released = OutputLog.read(sink, "kv");
        assertEquals(requests, released.size(), "every answer released once");
        for (int i = 0; i < released.size(); i++) {
            assertEquals(i, released.get(i).index(), "no gap, no repeat in the released output indexes");
            KvProtocol.Response response = KvProtocol.Response.decode(released.get(i).payload());
            assertEquals(i, response.id(), "the answer to request " + i + ", in order");
            assertTrue(response.ok(), response.toString());
        }
    }

    private static JsonNode cliJson(String... args) throws Exception {
        CliRun result = CliRun.of(args);
        assertEquals(0, result.code(), String.join(" ", args) + ": " + result.err());
        String[] lines = result.out().strip().split("\n");
        return new ObjectMapper().readTree(lines[lines.length - 1]);
    }

    private static byte[] key(int i) {
        return ("key-" + i).getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] value(int i) {
        return ("value " + i).getBytes(StandardCharsets.UTF_8);
    }
}
