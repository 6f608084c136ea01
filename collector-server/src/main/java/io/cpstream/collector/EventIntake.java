package io.cpstream.collector;

import io.cpstream.collector.store.EventJournal;
import io.cpstream.proto.EventLogAck;
import io.cpstream.proto.EventLogChunk;
import io.cpstream.proto.Limit;
import java.io.IOException;

/**
 * The edge for record/replay chunks: checks one {@link EventLogChunk} (size, range, every event an input of the
 * guest ABI, continuity with the journal), journals it durably, and answers the acknowledgement that lets the agent
 * release the outputs after it. A refused chunk leaves the journal and everything committed untouched.
 */
final class EventIntake {

    private EventIntake() {
    }

    static EventLogAck accept(String vm, EventJournal journal, EventLogChunk chunk) throws StandbyException {
        if (chunk.getEvents().size() > Limit.MAX_CHUNK_BYTES_VALUE) {
            throw StandbyException.invalid("vm " + vm + ": an event log chunk of " + chunk.getEvents().size()
                    + " bytes exceeds " + Limit.MAX_CHUNK_BYTES_VALUE);
        }
        if (chunk.getFrom() < 0 || Long.compareUnsigned(chunk.getEnd(), chunk.getFrom()) < 0) {
            throw StandbyException.invalid("vm " + vm + ": event log chunk [" + Long.toUnsignedString(chunk.getFrom())
                    + ", " + Long.toUnsignedString(chunk.getEnd()) + ") is not a range");
        }
        if (chunk.getOutputDigestsCount() > Limit.MAX_OUTPUT_DIGESTS_VALUE) {
            throw StandbyException.invalid("vm " + vm + ": an event log chunk carries " + chunk.getOutputDigestsCount()
                    + " output digests, more than " + Limit.MAX_OUTPUT_DIGESTS_VALUE);
        }
        if (chunk.getEvents().isEmpty() && !chunk.getRestart() && chunk.getFrom() == chunk.getEnd()
                && journal.started() && chunk.getFrom() == journal.end()) {
            // Output digests alone (lockstep): nothing to journal.
            return EventLogAck.newBuilder().setEnd(journal.end()).build();
        }
        try {
            journal.append(chunk.getFrom(), chunk.getEnd(), chunk.getEvents().toByteArray(), chunk.getRestart(),
                    chunk.getTruncateBelow());
        } catch (IllegalArgumentException e) {
            throw StandbyException.invalid("vm " + vm + ": event log chunk refused: " + e.getMessage());
        } catch (IllegalStateException e) {
            throw StandbyException.exhausted("vm " + vm + ": " + e.getMessage());
        } catch (IOException e) {
            throw StandbyException.storage("journaling events of vm " + vm, e);
        }
        return EventLogAck.newBuilder().setEnd(journal.end()).build();
    }
}
