package io.cpstream.tracker.kvm;

import static io.cpstream.tracker.kvm.KvmTestSupport.memoryImage;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.RecordReplay;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.replay.EventLog;
import io.cpstream.tracker.replay.ExecutionTrace;
import io.cpstream.tracker.replay.InputEvents;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Record/replay on the emulated backend: a kv guest records its inputs after a checkpoint; a guest restored
 * from that checkpoint and fed the log makes the same outputs and ends with the same memory, every time;
 * a log that does not fit the guest is refused or stops it with a divergence, never run as something else.
 */
class EmuRecordReplayTest {

    private static final String SPEC = "emu:guest=kv,mem=8m,slots=256";
    private static final Duration PATIENCE = Duration.ofSeconds(60);

    /** What one recording left: the checkpoint, the log after it, and the primary at the log's end. */
    record Recording(byte[] memory, byte[] deviceState, EventLog log, List<GuestOutput> outputs, byte[] finalMemory) {
    }

    private static Recording recording;

    @BeforeEach
    void requireEmulator() {
        KvmTestSupport.assumeEmu();
    }

    @BeforeAll
    static void record() throws Exception {
        if (KvmSource.emuUnavailableReason().isPresent()) {
            return;
        }
        try (KvmSource primary = (KvmSource) MemorySources.open(SPEC)) {
            RecordReplay rr = primary.recordReplay().orElseThrow();
            primary.start();
            putAndGet(primary, 0, 5, new ArrayList<>());
            byte[] memory;
            byte[] state;
            try (var stun = primary.stun()) {
                stun.harvestDirty();
                memory = memoryImage(primary);
                state = stun.deviceState();
                rr.record(true); // from this checkpoint on, every input is logged
            }
            long from = rr.portOrdinal();
            List<GuestOutput> outputs = new ArrayList<>();
            ByteArrayOutputStream events = new ByteArrayOutputStream();
            for (int round = 0; round < 6; round++) {
                putAndGet(primary, 100 + round * 10, 4, outputs);
                // Stuns in the middle of the recording: they interrupt the guest's input poll.
                try (var stun = primary.stun()) {
                    stun.harvestDirty();
                }
                events.write(rr.drainEvents(1 << 20).events());
            }
            byte[] finalMemory;
            long end;
            try (var stun = primary.stun()) {
                RecordReplay.Drained last = rr.drainEvents(1 << 20);
                events.write(last.events());
                end = last.coveredTo();
                finalMemory = memoryImage(primary);
            }
            recording = new Recording(memory, state, new EventLog(from, end, events.toByteArray()), outputs, finalMemory);
        }
    }

    /**
     * The recorder's wait ({@link RecordReplay#awaitOutput}): it returns with the new count once the guest emits an
     * output, at once when outputs came since the count it was given, and when woken; the timeouts are long, so only
     * a wait that missed its wake-up fails.
     */
    @Test
    void theOutputWaiterReturnsOnAnOutputAndWhenWoken() throws Exception {
        try (KvmSource guest = (KvmSource) MemorySources.open(SPEC)) {
            RecordReplay rr = guest.recordReplay().orElseThrow();
            guest.start();
            long longWait = Duration.ofSeconds(90).toNanos(); // far past PATIENCE, yet a failure ends
            java.util.concurrent.ExecutorService waiter = java.util.concurrent.Executors.newSingleThreadExecutor();
            try {
                java.util.concurrent.Future<Long> firstOutput = waiter.submit(() -> rr.awaitOutput(0, longWait));
                byte[] key = "key".getBytes(StandardCharsets.UTF_8);
                assertTrue(guest.offerInput(KvProtocol.put(1, key, "value".getBytes(StandardCharsets.UTF_8))));
                assertTrue(firstOutput.get(PATIENCE.toSeconds(), java.util.concurrent.TimeUnit.SECONDS) >= 1,
                        "woken by the answer to the put, with it counted");
                await().atMost(PATIENCE).until(() -> !guest.pollOutputs().isEmpty()); // the guest is idle again
                long emitted = rr.awaitOutput(0, longWait);
                assertEquals(emitted, rr.awaitOutput(emitted - 1, longWait), "an output since the count given: at once");
                java.util.concurrent.Future<Long> woken = waiter.submit(() -> rr.awaitOutput(emitted, longWait));
                rr.wakeOutputWaiter();
                assertEquals(emitted, woken.get(PATIENCE.toSeconds(), java.util.concurrent.TimeUnit.SECONDS),
                        "woken without an output");
            } finally {
                waiter.shutdownNow();
            }
        }
    }

    /** Puts {@code n} keys and gets them back, collecting the responses. */
    private static void putAndGet(KvmSource guest, int firstId, int n, List<GuestOutput> outputs) {
        putAndGet(guest, firstId, n, 0, outputs);
    }

    /** As above, after {@code earlier} outputs the guest makes first (a replay's) and that count too. */
    private static void putAndGet(KvmSource guest, int firstId, int n, int earlier, List<GuestOutput> outputs) {
        for (int i = 0; i < n; i++) {
            byte[] key = ("key-" + (firstId + i)).getBytes(StandardCharsets.UTF_8);
            assertTrue(guest.offerInput(KvProtocol.put(firstId + i, key, ("value " + i).getBytes(StandardCharsets.UTF_8))));
            assertTrue(guest.offerInput(KvProtocol.get(firstId + i + 1000, key)));
        }
        int want = outputs.size() + earlier + 2 * n;
        await().atMost(PATIENCE).pollInterval(Duration.ofMillis(2)).until(() -> {
            guest.fault().ifPresent(f -> {
                throw new AssertionError("guest faulted: " + f);
            });
            outputs.addAll(guest.pollOutputs());
            return outputs.size() >= want;
        });
    }

    private record Replayed(byte[] memory, List<GuestOutput> outputs, long ordinal) {
    }

    private static Replayed replay(byte[] deviceState, EventLog log) {
        try (KvmSource guest = KvmSource.restore(SourceSpec.parse(SPEC), recording.memory(), deviceState)) {
            RecordReplay rr = guest.recordReplay().orElseThrow();
            assertEquals(log.from(), rr.portOrdinal(), "the device state (CPSEMUST v2) carries the port-access ordinal");
            rr.replay(log.events(), log.end(), RecordReplay.AtEnd.WAIT);
            guest.start();
            rr.awaitReplayEnd(PATIENCE);
            assertTrue(rr.waitingAtReplayEnd());
            List<GuestOutput> outputs = new ArrayList<>(guest.pollOutputs());
            byte[] memory;
            try (var stun = guest.stun()) {
                stun.harvestDirty();
                memory = memoryImage(guest);
                var none = assertThrows(KvmException.class, stun::deviceState);
                assertTrue(none.getMessage().contains("inside a port access"), none.getMessage());
            }
            return new Replayed(memory, outputs, rr.portOrdinal());
        }
    }

    @Test
    void theReplayedGuestMakesTheSameOutputsAndEndsWithTheSameMemory() {
        EventLog log = recording.log();
        assertTrue(InputEvents.check(log.events(), log.from(), log.end()) >= 24 * 2, "every poll and fetch is logged");
        Replayed replayed = replay(recording.deviceState(), log);
        assertEquals(log.end(), replayed.ordinal());
        assertEquals(recording.outputs().size(), replayed.outputs().size());
        for (int i = 0; i < replayed.outputs().size(); i++) {
            assertEquals(recording.outputs().get(i).index(), replayed.outputs().get(i).index());
            assertArrayEquals(recording.outputs().get(i).payload(), replayed.outputs().get(i).payload());
        }
        int mismatch = Arrays.mismatch(recording.finalMemory(), replayed.memory());
        assertEquals(-1, mismatch, () -> "replayed memory differs at page " + mismatch / 4096);
    }

    /**
     * A replay traced instruction by instruction, store by store and port by port: its port events are the log's
     * inputs and the recording's outputs, in order; every kind has events; and two replays write the same trace.
     */
    @Test
    void aTracedReplayRecordsWhatTheGuestDid(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        EventLog log = recording.log();
        java.nio.file.Path first = dir.resolve("first.xtrace");
        java.nio.file.Path second = dir.resolve("second.xtrace");
        long records = tracedReplay(log, first);
        tracedReplay(log, second);
        List<ExecutionTrace.Entry> ports = new ArrayList<>();
        long[] stores = new long[1];
        ExecutionTrace.Summary summary = ExecutionTrace.read(first, entry -> {
            switch (entry.kind()) {
                case PORT_IN, PORT_OUT -> ports.add(entry);
                case MEMORY_WRITE -> stores[0]++;
                case INSTRUCTION -> assertTrue(entry.size() >= 1 && entry.size() <= 15, entry.toString());
            }
        });
        assertEquals(records, summary.records());
        assertEquals(log.from(), summary.startPosition());
        assertEquals(log.end(), summary.endPosition(), "it ended waiting inside the log's last access");
        assertTrue(summary.counts().get(ExecutionTrace.Kind.INSTRUCTION) > summary.counts()
                .get(ExecutionTrace.Kind.MEMORY_WRITE), summary.toString());
        assertTrue(stores[0] > 0, summary.toString());
        // Every port access of the replayed stretch, each at its own position, the log's inputs among them.
        assertEquals(log.end() - log.from(), ports.size(), "one event per port access");
        for (int i = 0; i < ports.size(); i++) {
            assertEquals(log.from() + i, ports.get(i).position());
        }
        for (InputEvents.Event input : InputEvents.parse(log.events())) {
            ExecutionTrace.Entry seen = ports.get((int) (input.ordinal() - log.from()));
            assertEquals(input.port(), seen.port(), seen.toString());
            if (input.kind() == InputEvents.KIND_VALUE) {
                assertEquals(ExecutionTrace.Kind.PORT_IN, seen.kind());
                assertEquals(Integer.toUnsignedLong(input.value()), seen.value(), "the value the guest got");
            }
        }
        long outputs = ports.stream().filter(p -> p.kind() == ExecutionTrace.Kind.PORT_OUT
                && p.port() == GuestAbi.PORT_OUTPUT).count();
        assertEquals(recording.outputs().size(), outputs, "an OUT on the output port per output");
        assertArrayEquals(java.nio.file.Files.readAllBytes(first), java.nio.file.Files.readAllBytes(second),
                "one log, one trace");
        // A trace cut short is refused, not read as a shorter run.
        byte[] whole = java.nio.file.Files.readAllBytes(first);
        java.nio.file.Path cut = dir.resolve("cut.xtrace");
        java.nio.file.Files.write(cut, Arrays.copyOf(whole, whole.length - 32));
        assertThrows(java.io.IOException.class, () -> ExecutionTrace.read(cut, entry -> { }));
    }

    private static long tracedReplay(EventLog log, java.nio.file.Path file) {
        try (KvmSource guest = KvmSource.restore(SourceSpec.parse(SPEC), recording.memory(), recording.deviceState())) {
            RecordReplay rr = guest.recordReplay().orElseThrow();
            rr.replay(log.events(), log.end(), RecordReplay.AtEnd.WAIT);
            rr.traceExecution(file, java.util.EnumSet.allOf(ExecutionTrace.Kind.class));
            guest.start();
            rr.awaitReplayEnd(PATIENCE);
            return rr.endTrace();
        }
    }

    @Test
    void twoReplaysOfOneLogEndWithOneImage() {
        Replayed first = replay(recording.deviceState(), recording.log());
        Replayed second = replay(recording.deviceState(), recording.log());
        assertArrayEquals(first.memory(), second.memory());
    }

    @Test
    void aReplayCutShortStopsAtItsEnd() {
        EventLog log = recording.log();
        long middle = InputEvents.parse(log.events()).get(10).ordinal() + 1;
        Replayed replayed = replay(recording.deviceState(), log.until(middle));
        assertEquals(middle, replayed.ordinal());
        assertTrue(replayed.outputs().size() < recording.outputs().size());
    }

    @Test
    void aReplayGoesLiveAtTheEndOfItsLog() {
        EventLog log = recording.log();
        try (KvmSource guest = KvmSource.restore(SourceSpec.parse(SPEC), recording.memory(), recording.deviceState())) {
            RecordReplay rr = guest.recordReplay().orElseThrow();
            rr.replay(log.events(), log.end(), RecordReplay.AtEnd.LIVE);
            guest.start();
            List<GuestOutput> outputs = new ArrayList<>();
            // Answered only once the replay ran and the guest went live; the replayed outputs come first.
            putAndGet(guest, 5000, 1, recording.outputs().size(), outputs);
            GuestOutput last = outputs.getLast();
            assertEquals(recording.outputs().getLast().index() + 2, last.index(), "live outputs continue the replayed ones");
            assertEquals(6000, KvProtocol.Response.decode(last.payload()).id(), "the live request's answer");
        }
    }

    @Test
    void malformedLogsAreRefusedBeforeTheGuestRuns() {
        EventLog log = recording.log();
        byte[] file = log.encode();
        byte[] flipped = file.clone();
        flipped[EventLog.HEADER + 3] ^= 1;
        assertTrue(assertThrows(IllegalArgumentException.class, () -> EventLog.decode(flipped)).getMessage().contains("CRC"));
        assertThrows(IllegalArgumentException.class, () -> EventLog.decode(Arrays.copyOf(file, file.length - 9)));
        byte[] events = log.events();
        byte[] badKind = events.clone();
        badKind[10] = 7;
        assertThrows(IllegalArgumentException.class, () -> InputEvents.check(badKind, log.from(), log.end()));
        // A recomputed CRC does not make a bad log good: the events are checked too.
        byte[] resealed = reseal(file, EventLog.HEADER + 10, (byte) 7);
        assertThrows(IllegalArgumentException.class, () -> EventLog.decode(resealed));
        try (KvmSource guest = KvmSource.restore(SourceSpec.parse(SPEC), recording.memory(), recording.deviceState())) {
            RecordReplay rr = guest.recordReplay().orElseThrow();
            var refused = assertThrows(KvmException.class, () -> rr.replay(badKind, log.end(), RecordReplay.AtEnd.WAIT));
            assertTrue(refused.getMessage().contains("not an input"), refused.getMessage());
            assertThrows(KvmException.class, () -> rr.replay(events, log.from() - 1, RecordReplay.AtEnd.WAIT));
            assertEquals(log.from(), rr.portOrdinal(), "a refused log leaves the guest as restored");
            assertFalse(rr.waitingAtReplayEnd());
        }
    }

    @Test
    void aLogThatDoesNotFitTheGuestStopsItWithADivergence() {
        EventLog log = recording.log();
        // The same inputs one port access later: the guest's first poll finds no logged input.
        List<InputEvents.Event> shifted = new ArrayList<>();
        for (InputEvents.Event e : InputEvents.parse(log.events())) {
            shifted.add(new InputEvents.Event(e.ordinal() + 1, e.port(), e.kind(), e.value(), e.data()));
        }
        try (KvmSource guest = KvmSource.restore(SourceSpec.parse(SPEC), recording.memory(), recording.deviceState())) {
            RecordReplay rr = guest.recordReplay().orElseThrow();
            rr.replay(InputEvents.encode(shifted), log.end() + 1, RecordReplay.AtEnd.WAIT);
            guest.start();
            var diverged = assertThrows(KvmException.class, () -> rr.awaitReplayEnd(PATIENCE));
            assertTrue(diverged.getMessage().contains("diverged"), diverged.getMessage());
        }
    }

    @Test
    void aVersion1DeviceStateStillRestoresWithItsOrdinalAtZero() {
        byte[] v2 = recording.deviceState();
        ByteBuffer header = ByteBuffer.wrap(v2).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(2, header.getInt(8));
        assertEquals(recording.log().from(), header.getLong(48));
        // Version 1: the same without the 8-byte ordinal at offset 48, its own CRC.
        byte[] body = new byte[v2.length - 8 - 4];
        System.arraycopy(v2, 0, body, 0, 48);
        System.arraycopy(v2, 56, body, 48, v2.length - 56 - 4);
        ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN).putInt(8, 1);
        CRC32 crc = new CRC32();
        crc.update(body);
        byte[] v1 = ByteBuffer.allocate(body.length + 4).order(ByteOrder.LITTLE_ENDIAN).put(body)
                .putInt((int) crc.getValue()).array();
        try (KvmSource guest = KvmSource.restore(SourceSpec.parse(SPEC), recording.memory(), v1)) {
            assertEquals(0, guest.recordReplay().orElseThrow().portOrdinal());
            List<GuestOutput> outputs = new ArrayList<>();
            guest.start();
            putAndGet(guest, 7000, 1, outputs);
            assertEquals(recording.outputs().getFirst().index(), outputs.getFirst().index(), "it continues as v2 would");
        }
    }

    private static byte[] reseal(byte[] file, int at, byte value) {
        byte[] copy = file.clone();
        copy[at] = value;
        CRC32 crc = new CRC32();
        crc.update(copy, 0, copy.length - 4);
        ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN).putInt(copy.length - 4, (int) crc.getValue());
        return copy;
    }
}
