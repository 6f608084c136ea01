package io.cpstream.tracker.sim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.Stun;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A sim guest restored from a checkpoint starts from exactly that memory and those counters, then runs on. */
class SimRestoreTest {

    private static final SourceSpec SPEC = SourceSpec.parse("sim:mem=1m,workload=uniform,rate=20000,seed=7,outputs=2000");

    private record Checkpoint(byte[] memory, byte[] deviceState, long operations, long outputCounter) {
    }

    @Test
    void restoredGuestStartsFromTheCheckpointAndRunsOn(@TempDir Path dir) throws Exception {
        Checkpoint checkpoint = checkpointAfterSomeWrites();
        Path image = dir.resolve("memory.img");
        Files.write(image, checkpoint.memory());

        try (MemorySource restored = MemorySources.restore(SPEC, image, checkpoint.deviceState())) {
            assertEquals("sim", restored.kind());
            assertArrayEquals(checkpoint.memory(), image(restored), "memory is the checkpoint's");
            try (Stun stun = restored.stun()) {
                BitSet dirty = stun.harvestDirty();
                assertEquals(restored.pageCount(), dirty.cardinality(), "every page counts as dirty at first");
                assertEquals(checkpoint.operations(), ByteBuffer.wrap(stun.deviceState()).getLong(8),
                        "the write counter continues from the checkpoint");
            }
            restored.start();
            SimSource sim = (SimSource) restored;
            Awaitility.await().until(() -> sim.operations() > checkpoint.operations() + 1000);
            List<GuestOutput> outputs = Awaitility.await().until(restored::pollOutputs, list -> !list.isEmpty());
            assertTrue(checkpoint.outputCounter() > 0, "the primary emitted outputs before the checkpoint");
            assertEquals(checkpoint.outputCounter(), outputs.getFirst().index(), "output indexes continue");
            assertEquals(checkpoint.outputCounter() + 1, outputs.getFirst().longValue(),
                    "the first output is the successor of the checkpoint's last");
            try (Stun stun = restored.stun()) {
                assertFalse(stun.harvestDirty().isEmpty(), "the restored guest writes again");
            }
            assertFalse(Arrays.equals(checkpoint.memory(), image(restored)), "and its memory moves on");
        }
    }

    @Test
    void mismatchedOrCorruptCheckpointsAreRefused() {
        Checkpoint checkpoint = checkpointAfterSomeWrites();
        MemorySegment memory = MemorySegment.ofArray(checkpoint.memory());
        var tooSmall = assertThrows(IllegalArgumentException.class,
                () -> SimSource.restore(SourceSpec.parse("sim:mem=2m"), memory, checkpoint.deviceState()));
        assertTrue(tooSmall.getMessage().contains("mem="), tooSmall.getMessage());

        byte[] badMagic = checkpoint.deviceState().clone();
        badMagic[0] ^= 1;
        assertThrows(IllegalArgumentException.class, () -> SimSource.restore(SPEC, memory, badMagic));
        assertThrows(IllegalArgumentException.class, () -> SimSource.restore(SPEC, memory, new byte[8]));

        var unknown = assertThrows(IllegalArgumentException.class,
                () -> MemorySources.restore(SourceSpec.parse("trace:file=x"), memory, checkpoint.deviceState()));
        assertTrue(unknown.getMessage().contains("restorable kinds"), unknown.getMessage());
    }

    private static Checkpoint checkpointAfterSomeWrites() {
        try (SimSource source = SimSource.open(SPEC)) {
            source.start();
            Awaitility.await().until(() -> source.operations() > 2000 && source.outputCounter() > 0);
            try (Stun stun = source.stun()) {
                stun.harvestDirty();
                byte[] state = stun.deviceState();
                return new Checkpoint(image(source), state, ByteBuffer.wrap(state).getLong(8), source.outputCounter());
            }
        }
    }

    private static byte[] image(MemorySource source) {
        byte[] image = new byte[(int) source.memoryBytes()];
        for (int page = 0; page < source.pageCount(); page++) {
            source.copyPage(page, MemorySegment.ofArray(image), (long) page * source.pageSize());
        }
        return image;
    }
}
