package io.cpstream.tracker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The registry's table: one entry per kind, which the messages and the short forms are built from. */
class MemorySourcesTest {

    @Test
    void anUnknownKindIsRefusedWithAnExampleOfEveryKnownKind() {
        var e = assertThrows(IllegalArgumentException.class, () -> MemorySources.open("floppy:size=1m"));
        assertEquals("unknown source kind 'floppy'; known: sim (e.g. " + MemorySources.DEFAULT_SPEC
                + "), kvm (e.g. kvm:guest=counter,mem=64m), emu (e.g. emu:guest=counter,mem=64m), "
                + "process (e.g. process:pid=1234), "
                + "trace (e.g. trace:file=redis.cpt)", e.getMessage());
    }

    @Test
    void kindsWithABareParameterTakeTheShortForm() {
        assertEquals(new SourceSpec("process", Map.of("pid", "1234")), MemorySources.parse("process:1234"));
        assertEquals(new SourceSpec("trace", Map.of("file", "redis.cpt")), MemorySources.parse("trace:redis.cpt"));
        assertThrows(IllegalArgumentException.class, () -> MemorySources.parse("sim:4m"), "sim has no bare parameter");
    }

    @Test
    void onlyKindsWithARestoreCanBeRestored() {
        for (String kind : new String[] {"trace", "process", "floppy"}) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> MemorySources.restore(new SourceSpec(kind, Map.of()), MemorySegment.NULL, new byte[0]));
            assertTrue(e.getMessage().endsWith("restorable kinds: sim, kvm, emu"), e.getMessage());
        }
    }
}
