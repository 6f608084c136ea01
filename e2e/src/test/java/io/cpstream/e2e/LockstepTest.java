package io.cpstream.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.output.OutputLog;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.harness.LocalReplication;
import io.cpstream.proto.VmStatus;
import io.cpstream.tracker.OutputTap;
import io.cpstream.tracker.kvm.KvProtocol;
import io.cpstream.tracker.kvm.KvmSource;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Quasi-lockstep ({@code agent --protect lockstep}) on a kv guest under {@code emu}: the collector runs a secondary
 * from the committed checkpoint and the journaled inputs and compares every output with the primary's before the
 * agent may release it. Divergences are forced by writing the primary's memory behind the guest's back, an input no
 * log holds: one that shows in an answer (caught before that answer leaves) and one that shows only in memory
 * (caught by the periodic memory check). Each time the secondary is resynchronized from a later checkpoint, and the
 * run ends with its memory verified equal to the primary's checkpoint replayed to the same input.
 */
class LockstepTest {

    private static final String SPEC = "emu:guest=kv,mem=8m,slots=64";
    private static final Duration PATIENCE = Duration.ofSeconds(60);
    /** Long epochs: a held answer waits for the next checkpoint, and the test looks at it meanwhile. */
    private static final Duration EPOCH = Duration.ofMillis(1500);
    private static final int SLOT_VALUE_OFFSET = 8 + KvProtocol.KEY_MAX;

    @TempDir
    Path dir;

    @Test
    void everyDivergenceIsCaughtBeforeItsOutputLeavesAndTheSecondaryIsResynchronized() throws Exception {
        Replication.assumeBackend("emu");
        Path sink = dir.resolve("released.log");
        AgentConfig config = AgentConfig.of("unused", "kv").withEpochInterval(EPOCH).withOutputSink("file:" + sink);
        try (LocalReplication primary = new LocalReplication(SPEC, dir.resolve("data"), config, (epoch, outputs) -> { },
                false, collector -> collector.withLockstep(new CollectorConfig.Lockstep(1, Duration.ofMillis(1))))) {
            KvmSource kv = (KvmSource) ((OutputTap) primary.guest).guest();
            primary.agent.protectByLockstep(null);
            primary.start();
            primary.awaitFirstCommit(PATIENCE);
            List<byte[]> answers = new ArrayList<>();

            // Undisturbed: every answer is compared and released, and the secondary's memory checks out.
            int requests = 0;
            for (; requests < 20; requests++) {
                offer(kv, KvProtocol.put(requests, key(requests), value(requests)));
            }
            Replication.awaitReleased(sink, "kv", requests, PATIENCE);
            await().atMost(PATIENCE).until(() -> status(primary).getLockstepVerifications() >= 1);
            VmStatus calm = status(primary);
            assertEquals("running", calm.getLockstepState(), calm.toString());
            assertEquals(0, calm.getLockstepMismatches(), calm.toString());
            assertTrue(calm.getLockstepComparedOutputEnd() >= requests, calm.toString());

            // A value the primary holds changes with no input: the answer to the next GET of it differs.
            byte[] original = marker('A');
            byte[] hidden = marker('B');
            offer(kv, KvProtocol.put(requests, "victim".getBytes(StandardCharsets.UTF_8), original));
            requests++;
            Replication.awaitReleased(sink, "kv", requests, PATIENCE);
            awaitNextCommit(primary); // the next checkpoint is an epoch away: the held answer can be seen held
            byte[] image = Replication.image(kv);
            List<Integer> places = indexesOf(image, original);
            assertTrue(!places.isEmpty(), "the value is in guest memory");
            for (int at : places) {
                kv.writeGuestMemory(at, hidden);
            }
            long getIndex = requests;
            offer(kv, KvProtocol.get(requests, "victim".getBytes(StandardCharsets.UTF_8)));
            requests++;
            await().atMost(PATIENCE).pollInterval(Duration.ofMillis(2))
                    .until(() -> status(primary).getLockstepMismatches() >= 1);
            VmStatus caught = status(primary);
            assertEquals(getIndex, caught.getLockstepLastMismatchOutput(), caught.toString());
            assertTrue(caught.getLockstepComparedOutputEnd() <= getIndex, caught.toString());
            assertEquals(getIndex, OutputLog.read(sink, "kv").size(),
                    "the diverging answer was held when the mismatch was found");
            assertTrue(primary.agent.outputReleasedEnd() <= getIndex, "and is still held");

            // The next checkpoint holds the primary's answer: the secondary restarts from it and the answer goes.
            Replication.awaitReleased(sink, "kv", requests, PATIENCE);
            await().atMost(PATIENCE).until(() -> status(primary).getLockstepResyncs() >= 1
                    && status(primary).getLockstepState().equals("running"));
            answers.add(OutputLog.read(sink, "kv").get((int) getIndex).payload());
            KvProtocol.Response answer = KvProtocol.Response.decode(answers.getLast());
            assertEquals(getIndex, answer.id());
            assertArrayEquals(hidden, answer.value(), "the primary's answer is the one released");

            // Memory alone diverges (the slot's padding, which the guest never reads): no output shows it, the memory
            // check does, and the secondary is resynchronized again.
            int slot = slotOf(image, original);
            long resyncsBefore = status(primary).getLockstepResyncs();
            kv.writeGuestMemory(slot + 4, new byte[] {1, 2, 3, 4});
            await().atMost(PATIENCE).until(() -> status(primary).getLockstepMemoryDivergences() >= 1);
            await().atMost(PATIENCE).until(() -> status(primary).getLockstepResyncs() > resyncsBefore);

            // Undisturbed again: answers flow, and the run ends with the secondary's memory verified equal.
            for (int i = 0; i < 20; i++, requests++) {
                offer(kv, KvProtocol.put(requests, key(requests), value(requests)));
            }
            Replication.awaitReleased(sink, "kv", requests, PATIENCE);
            long verified = status(primary).getLockstepVerifications();
            await().atMost(PATIENCE).until(() -> status(primary).getLockstepVerifications() > verified);
            VmStatus end = status(primary);
            assertEquals(1, end.getLockstepMemoryDivergences(), end.toString());
            assertEquals(1, end.getLockstepMismatches(), end.toString());
            assertEquals(1.0, primary.collectorCount("cpstream.collector.lockstep.mismatches"));
            assertEquals(end.getLockstepResyncs(), primary.collectorCount("cpstream.collector.lockstep.resyncs"));
        }
        List<OutputLog.Record> released = OutputLog.read(sink, "kv");
        for (int i = 0; i < released.size(); i++) {
            assertEquals(i, released.get(i).index(), "no gap, no repeat");
            assertEquals(i, KvProtocol.Response.decode(released.get(i).payload()).id(), "in request order");
        }
    }

    @Test
    void aCollectorWithoutRoomForASecondarySaysSoAndOutputsGoAsUnderReplay() throws Exception {
        Replication.assumeBackend("emu");
        Path sink = dir.resolve("released.log");
        AgentConfig config = AgentConfig.of("unused", "kv").withEpochInterval(Duration.ofMillis(200))
                .withOutputSink("file:" + sink);
        try (LocalReplication primary = new LocalReplication(SPEC, dir.resolve("data"), config, (epoch, outputs) -> { },
                false, collector -> collector.withLockstep(new CollectorConfig.Lockstep(0, null)))) {
            KvmSource kv = (KvmSource) ((OutputTap) primary.guest).guest();
            primary.agent.protectByLockstep(null);
            primary.start();
            primary.awaitFirstCommit(PATIENCE);
            for (int i = 0; i < 10; i++) {
                offer(kv, KvProtocol.put(i, key(i), value(i)));
            }
            Replication.awaitReleased(sink, "kv", 10, PATIENCE);
            VmStatus status = status(primary);
            assertTrue(status.getLockstepState().startsWith("unavailable: all 0 lockstep secondaries"),
                    status.toString());
        }
    }

    private static VmStatus status(LocalReplication replication) {
        return replication.collector.vms().stream().filter(vm -> vm.getVmId().equals("kv")).findFirst().orElseThrow();
    }

    private static void awaitNextCommit(LocalReplication replication) {
        long now = replication.agent.acknowledgedEpoch();
        await().atMost(PATIENCE).pollInterval(Duration.ofMillis(2))
                .until(() -> replication.agent.acknowledgedEpoch() > now);
    }

    private static void offer(KvmSource kv, byte[] request) {
        await().atMost(PATIENCE).pollInterval(Duration.ofMillis(1)).until(() -> kv.offerInput(request));
    }

    private static byte[] marker(char fill) {
        byte[] value = new byte[48];
        Arrays.fill(value, (byte) fill);
        System.arraycopy("lockstep-".getBytes(StandardCharsets.US_ASCII), 0, value, 0, 9);
        return value;
    }

    private static List<Integer> indexesOf(byte[] image, byte[] what) {
        List<Integer> found = new ArrayList<>();
        for (int i = 0; i + what.length <= image.length; i++) {
            if (image[i] == what[0] && Arrays.equals(image, i, i + what.length, what, 0, what.length)) {
                found.add(i);
            }
        }
        return found;
    }

    /** The start of the table slot holding {@code value}: the occurrence whose slot names the key "victim". */
    private static int slotOf(byte[] image, byte[] value) {
        byte[] victim = "victim".getBytes(StandardCharsets.UTF_8);
        for (int at : indexesOf(image, value)) {
            int slot = at - SLOT_VALUE_OFFSET;
            if (slot >= 0 && image[slot] == 1 && image[slot + 1] == victim.length
                    && Arrays.equals(image, slot + 8, slot + 8 + victim.length, victim, 0, victim.length)) {
                return slot;
            }
        }
        throw new AssertionError("no table slot holds the value");
    }

    private static byte[] key(int i) {
        return ("key-" + i).getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] value(int i) {
        return ("value " + i).getBytes(StandardCharsets.UTF_8);
    }
}
