package io.cpstream.tracker.trace;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.Stun;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Record a guest, replay the recording, and check the replay reproduces every recorded image. */
class TraceTest {

    private static final int EPOCHS = 30;

    @TempDir
    Path dir;
    Path trace;

    @BeforeEach
    void recordASimGuest() throws Exception {
        trace = dir.resolve("sim.cpt");
        try (MemorySource sim = MemorySources.open("sim:mem=4m,workload=mixed,rate=50000")) {
            TraceRecorder.record(sim, trace, Duration.ofMillis(5), EPOCHS, Map.of("source", "sim:mem=4m"),
                    (epoch, dirty, stop, pause) -> { });
        }
    }

    @Test
    void theFileSaysWhatWasRecorded() throws Exception {
        try (TraceReader reader = new TraceReader(trace)) {
            assertEquals(4096, reader.header().pageSize());
            assertEquals(1024, reader.header().pageCount());
            assertEquals("sim:mem=4m", reader.header().metadata().get("source"));
            long previousOffset = -1;
            TraceEpoch epoch;
            while ((epoch = reader.next()) != null) {
                assertTrue(epoch.offsetNanos() > previousOffset, "stun times increase");
                previousOffset = epoch.offsetNanos();
                assertTrue(epoch.deviceState().length > 0);
            }
            assertEquals(EPOCHS, reader.epochs());
        }
        System.out.printf("trace: %d epochs of a 4 MiB sim guest in %d KiB%n", EPOCHS, Files.size(trace) >> 10);
    }

    @Test
    void maxSpeedReplayShowsOneRecordedEpochPerStun() throws Exception {
        List<BitSet> recordedDirty = new ArrayList<>();
        try (TraceReader reader = new TraceReader(trace)) {
            for (TraceEpoch epoch; (epoch = reader.next()) != null; ) {
                recordedDirty.add(epoch.dirty());
            }
        }
        try (TraceSource replay = (TraceSource) MemorySources.open("trace:" + trace)) {
            replay.start();
            for (int stun = 1; stun <= EPOCHS; stun++) {
                assertFalse(replay.finished());
                try (Stun s = replay.stun()) {
                    BitSet dirty = s.harvestDirty();
                    if (stun == 1) {
                        assertEquals(replay.pageCount(), dirty.cardinality(), "all pages on the first harvest");
                    } else {
                        assertEquals(recordedDirty.get(stun - 1), dirty, "dirty set of stun " + stun);
                    }
                    assertArrayEquals(replay.expectedDigestAtStun(stun), digest(replay), "image at stun " + stun);
                }
            }
            // The player notices the end of the file just after applying the last epoch.
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).until(replay::finished);
            try (Stun s = replay.stun()) {
                assertTrue(s.harvestDirty().isEmpty(), "after the recording the guest is idle");
                assertArrayEquals(replay.expectedDigestAtStun(EPOCHS), digest(replay));
            }
        }
    }

    @Test
    void realtimeReplayShowsWhateverWasAppliedByEachStun() throws Exception {
        try (TraceSource replay = (TraceSource) MemorySources.open("trace:file=" + trace + ",speed=realtime")) {
            replay.start();
            for (int stun = 1; !replay.finished(); stun++) {
                Thread.sleep(3);
                try (Stun s = replay.stun()) {
                    s.harvestDirty();
                    byte[] expected = replay.expectedDigestAtStun(stun);
                    if (expected != null) {
                        assertArrayEquals(expected, digest(replay), "image at stun " + stun);
                    }
                }
                assertTrue(stun < 10_000, "the replay ends");
            }
            assertEquals(EPOCHS, replay.appliedEpochs());
        }
    }

    @Test
    void corruptTracesAreRefusedNotReplayed() throws Exception {
        byte[] good = Files.readAllBytes(trace);

        Path badMagic = write("magic.cpt", good, bytes -> bytes[0] = 'X');
        assertTrue(assertThrows(TraceFormatException.class, () -> new TraceReader(badMagic)).getMessage().contains("magic"));

        Path future = write("version.cpt", good, bytes -> bytes[11] = 9);
        assertTrue(assertThrows(TraceFormatException.class, () -> new TraceReader(future)).getMessage().contains("version"));

        Path truncated = dir.resolve("truncated.cpt");
        Files.write(truncated, Arrays.copyOf(good, good.length * 2 / 3));
        assertThrows(TraceFormatException.class, () -> readAll(truncated));

        Path flipped = write("flipped.cpt", good, bytes -> bytes[bytes.length / 2] ^= 0x40);
        assertThrows(TraceFormatException.class, () -> readAll(flipped));

        try (TraceSource replay = (TraceSource) MemorySources.open("trace:" + truncated)) {
            replay.start();
            IllegalStateException failed = assertThrows(IllegalStateException.class, () -> {
                for (int i = 0; i <= EPOCHS; i++) {
                    replay.stun().close();
                }
            });
            assertTrue(failed.getMessage().contains(truncated.toString()), failed.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> MemorySources.open("trace:file=" + dir.resolve("absent.cpt")));
        assertThrows(IllegalArgumentException.class, () -> MemorySources.open("trace:file=" + trace + ",speed=warp"));
    }

    @Test
    void aStunBeforeAnyEpochKnowsNoDigest() throws Exception {
        try (TraceSource replay = (TraceSource) MemorySources.open("trace:" + trace)) {
            assertNull(replay.expectedDigestAtStun(1));
            replay.start();
            replay.stun().close();
            assertNotNull(replay.expectedDigestAtStun(1));
        }
    }

    private interface Edit {
        void apply(byte[] bytes);
    }

    private Path write(String name, byte[] good, Edit edit) throws IOException {
        byte[] bytes = good.clone();
        edit.apply(bytes);
        Path path = dir.resolve(name);
        Files.write(path, bytes);
        return path;
    }

    private static void readAll(Path path) throws IOException {
        try (TraceReader reader = new TraceReader(path)) {
            while (reader.next() != null) {
                // reading is the test
            }
        }
    }

    static byte[] digest(MemorySource source) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment page = arena.allocate(source.pageSize());
            for (int i = 0; i < source.pageCount(); i++) {
                source.copyPage(i, page, 0);
                sha.update(page.asByteBuffer());
            }
        }
        return sha.digest();
    }
}
