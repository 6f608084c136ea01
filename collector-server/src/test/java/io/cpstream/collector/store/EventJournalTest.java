package io.cpstream.collector.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.cpstream.tracker.replay.InputEvents;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A full journal refuses only inputs it would have to hold: a chunk whose truncation point (the agent's last committed
 * checkpoint) frees the room is taken, the events below that point dropped first.
 */
class EventJournalTest {

    /** Events per chunk: a thousand requests of a kilobyte, about 1 MiB. */
    private static final int PER_CHUNK = 1000;

    @TempDir
    Path dir;

    @Test
    void aFullJournalTakesAChunkOnceACommittedCheckpointFreesRoom() throws Exception {
        try (EventJournal journal = EventJournal.open(dir, Durability.NONE)) {
            long ordinal = 0;
            boolean first = true;
            long held = 0;
            while (held + 2L * chunkBytes() <= EventJournal.MAX_BYTES) {
                journal.append(ordinal, ordinal + PER_CHUNK, chunk(ordinal), first, 0);
                ordinal += PER_CHUNK;
                held += chunkBytes();
                first = false;
            }
            long end = ordinal;
            journal.append(end, end + PER_CHUNK, chunk(end), false, 0); // the last that fits
            end += PER_CHUNK;
            long next = end;
            assertThrows(IllegalStateException.class, () -> journal.append(next, next + PER_CHUNK, chunk(next), false, 0),
                    "full, and nothing may be dropped");
            assertEquals(end, journal.end(), "a refused chunk leaves the journal as it was");
            assertEquals(0, journal.from());

            long committedAt = end / 2;
            journal.append(next, next + PER_CHUNK, chunk(next), false, committedAt);
            assertEquals(committedAt, journal.from(), "the events below the committed checkpoint were dropped");
            assertEquals(next + PER_CHUNK, journal.end());
            InputEvents.check(journal.log().events(), committedAt, next + PER_CHUNK);
        }
        try (EventJournal reopened = EventJournal.open(dir, Durability.NONE)) {
            assertEquals(reopened.log().from(), reopened.from());
            assertEquals(reopened.end(), reopened.log().end(), "what was written is what is read back");
        }
    }

    private static int chunkBytes() {
        return PER_CHUNK * (InputEvents.HEADER + InputEvents.RECORD_MAX);
    }

    /** {@value #PER_CHUNK} fetched requests of {@link InputEvents#RECORD_MAX} bytes at port accesses from {@code from}. */
    private static byte[] chunk(long from) {
        List<InputEvents.Event> events = new ArrayList<>(PER_CHUNK);
        for (int i = 0; i < PER_CHUNK; i++) {
            events.add(new InputEvents.Event(from + i, InputEvents.PORT_INPUT_FETCH, InputEvents.KIND_RECORD, 0,
                    new byte[InputEvents.RECORD_MAX]));
        }
        return InputEvents.encode(events);
    }
}
