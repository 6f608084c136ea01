package io.cpstream.collector;

import static io.cpstream.collector.RawAgent.batch;
import static io.cpstream.collector.RawAgent.begin;
import static io.cpstream.collector.RawAgent.hello;
import static io.cpstream.collector.RawAgent.page;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.cpstream.collector.store.EventJournal;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.EventLogChunk;
import io.cpstream.tracker.replay.InputEvents;
import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Record/replay chunks at the collector's edge (invariant I5): well-formed chunks are journaled durably and
 * acknowledged, and survive a restart (the Welcome says where the journal ends); a malformed chunk closes the stream
 * with INVALID_ARGUMENT and leaves the journal and the committed image as they were.
 */
class EventIntakeTest {

    private static final int PAGES = 8;

    @TempDir
    Path dataDir;

    private TestCollector collector;

    @BeforeEach
    void start() throws Exception {
        collector = new TestCollector(dataDir);
    }

    @AfterEach
    void stop() {
        collector.close();
    }

    private static AgentMessage chunk(long from, long end, byte[] events, boolean restart) {
        return AgentMessage.newBuilder().setEvents(EventLogChunk.newBuilder().setFrom(from).setEnd(end)
                .setEvents(ByteString.copyFrom(events)).setRestart(restart)).build();
    }

    private static byte[] poll(long ordinal, int value) {
        return InputEvents.encode(List.of(new InputEvents.Event(ordinal, InputEvents.PORT_INPUT_POLL,
                InputEvents.KIND_VALUE, value, new byte[0])));
    }

    private static byte[] fetch(long ordinal, String request) {
        return InputEvents.encode(List.of(new InputEvents.Event(ordinal, InputEvents.PORT_INPUT_FETCH,
                InputEvents.KIND_RECORD, 0, request.getBytes())));
    }

    private RawAgent committed() {
        RawAgent stream = collector.agent().send(hello("vm", PAGES)).send(begin(1, true, PAGES));
        for (int i = 0; i < PAGES; i++) {
            stream.send(batch(1, page(i, (byte) 3)));
        }
        stream.sendCommit(1, PAGES);
        stream.awaitAnswer(CollectorMessage::hasAck);
        return stream;
    }

    @Test
    void chunksAreJournaledAcknowledgedAndKeptAcrossARestart() throws Exception {
        RawAgent stream = committed();
        stream.send(chunk(10, 15, poll(12, 5), true));
        assertEquals(15, stream.awaitAnswer(CollectorMessage::hasEventAck).getEventAck().getEnd());
        stream.send(chunk(15, 20, fetch(15, "put k v"), false));
        assertEquals(20, stream.awaitAnswer(CollectorMessage::hasEventAck).getEventAck().getEnd());
        stream.out.onCompleted();
        collector.close();

        collector = new TestCollector(dataDir);
        RawAgent again = collector.agent().send(hello("vm", PAGES));
        CollectorMessage welcome = again.awaitAnswer(CollectorMessage::hasWelcome);
        assertEquals(20, welcome.getWelcome().getEventLogEnd(), "the journal outlived the collector");
        try (EventJournal journal = EventJournal.open(dataDir.resolve("vms/vm"))) {
            assertEquals(10, journal.from());
            assertEquals(2, InputEvents.check(journal.log().events(), 10, 20));
        }
    }

    @Test
    void malformedChunksCloseTheStreamAndLeaveJournalAndImageAlone() throws Exception {
        RawAgent stream = committed();
        stream.send(chunk(0, 10, poll(3, 1), true));
        stream.awaitAnswer(CollectorMessage::hasEventAck);
        stream.out.onCompleted();
        byte[] image = Files.readAllBytes(dataDir.resolve("vms/vm/image.mem"));
        byte[] journal = Files.readAllBytes(dataDir.resolve("vms/vm/events.journal"));

        byte[] badPort = poll(12, 1);
        badPort[8] = 0x00; // port 0x500: the output port is no input
        byte[] truncated = java.util.Arrays.copyOf(fetch(12, "abc"), 21);
        List<AgentMessage> refused = List.of(
                chunk(10, 20, badPort, false),
                chunk(10, 20, truncated, false),
                chunk(10, 20, poll(25, 1), false),          // outside [from, end)
                chunk(12, 20, poll(13, 1), false),          // leaves a gap after the journal's end
                chunk(20, 10, new byte[0], false),          // not a range
                chunk(10, 20, new byte[(1 << 20) + 20], false)); // larger than a chunk may be
        for (AgentMessage bad : refused) {
            Status status = collector.agent().send(hello("vm", PAGES)).send(bad).awaitClosed();
            assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), bad.getEvents().getFrom() + ": " + status);
        }
        assertArrayEquals(image, Files.readAllBytes(dataDir.resolve("vms/vm/image.mem")), "the image is untouched");
        assertArrayEquals(journal, Files.readAllBytes(dataDir.resolve("vms/vm/events.journal")), "the journal too");
        assertEquals(1, collector.committedEpoch("vm"));

        RawAgent next = collector.agent().send(hello("vm", PAGES));
        assertEquals(10, next.awaitAnswer(CollectorMessage::hasWelcome).getWelcome().getEventLogEnd());
        next.send(chunk(10, 11, poll(10, 7), false));
        assertEquals(11, next.awaitAnswer(CollectorMessage::hasEventAck).getEventAck().getEnd(), "and goes on");
    }

    @Test
    void aTornLastRecordIsDroppedOnOpen() throws Exception {
        Path vm = dataDir.resolve("torn");
        Files.createDirectories(vm);
        try (EventJournal journal = EventJournal.open(vm)) {
            journal.append(0, 5, poll(1, 9), true, 0);
            journal.append(5, 9, fetch(6, "x"), false, 0);
        }
        Path file = vm.resolve("events.journal");
        byte[] whole = Files.readAllBytes(file);
        Files.write(file, java.util.Arrays.copyOf(whole, whole.length - 3)); // a crash while appending
        try (EventJournal journal = EventJournal.open(vm)) {
            assertEquals(5, journal.end(), "the torn record was never acknowledged: it is gone, the rest stays");
            assertEquals(1, InputEvents.check(journal.log().events(), 0, 5));
        }
    }
}
