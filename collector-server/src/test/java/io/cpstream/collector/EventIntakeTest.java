package io.cpstream.collector;

import static io.cpstream.collector.RawAgent.batch;
import static io.cpstream.collector.RawAgent.begin;
import static io.cpstream.collector.RawAgent.hello;
import static io.cpstream.collector.RawAgent.page;
import static io.cpstream.collector.RawEventLog.chunk;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.cpstream.collector.store.Durability;
import io.cpstream.collector.store.EventJournal;
import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.EventLogChunk;
import io.cpstream.proto.GetVmRequest;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmStatus;
import io.cpstream.tracker.replay.EventLog;
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
 * Record/replay chunks at the collector's edge (invariant I5), on the EventLog call: well-formed chunks that present
 * the attached stream's token are journaled durably and acknowledged, and survive a restart (the Welcome says where the
 * journal ends); a malformed chunk, or one presenting a token no attached stream holds, ends the call and leaves the
 * journal and the committed image as they were; once a promotion begins, no chunk is acknowledged that its snapshot's
 * log lacks.
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

    private static byte[] poll(long ordinal, int value) {
        return InputEvents.encode(List.of(new InputEvents.Event(ordinal, InputEvents.PORT_INPUT_POLL,
                InputEvents.KIND_VALUE, value, new byte[0])));
    }

    private static byte[] fetch(long ordinal, String request) {
        return InputEvents.encode(List.of(new InputEvents.Event(ordinal, InputEvents.PORT_INPUT_FETCH,
                InputEvents.KIND_RECORD, 0, request.getBytes())));
    }

    /** A stream attached to vm, and its Welcome. */
    private record Attached(RawAgent stream, CollectorMessage welcome) {
        ByteString token() {
            return welcome.getWelcome().getLeaseToken();
        }
    }

    private Attached attach() {
        RawAgent stream = collector.agent().send(hello("vm", PAGES));
        return new Attached(stream, stream.awaitAnswer(CollectorMessage::hasWelcome));
    }

    private RawEventLog eventLog(Attached attached) {
        return new RawEventLog(collector.channel(), "vm", attached.token());
    }

    /** Attaches and commits epoch 1 (the whole image, every page filled with 3). */
    private Attached committed() {
        Attached attached = attach();
        attached.stream().send(begin(1, true, PAGES));
        for (int i = 0; i < PAGES; i++) {
            attached.stream().send(batch(1, page(i, (byte) 3)));
        }
        attached.stream().sendCommit(1, PAGES);
        attached.stream().awaitAnswer(CollectorMessage::hasAck);
        return attached;
    }

    @Test
    void chunksAreJournaledAcknowledgedAndKeptAcrossARestart() throws Exception {
        Attached attached = committed();
        RawEventLog log = eventLog(attached);
        assertEquals(15, log.send(chunk(10, 15, poll(12, 5), true)).awaitAck());
        assertEquals(20, log.send(chunk(15, 20, fetch(15, "put k v"), false)).awaitAck());
        VmStatus status = AdminGrpc.newBlockingStub(collector.channel())
                .getVm(GetVmRequest.newBuilder().setVmId("vm").build());
        assertEquals(10, status.getEventLogFrom(), "status shows what a promotion would replay");
        assertEquals(20, status.getEventLogEnd());
        assertEquals(poll(12, 5).length + fetch(15, "put k v").length, status.getEventLogBytes());
        log.end();
        attached.stream().out.onCompleted();
        collector.close();

        collector = new TestCollector(dataDir);
        assertEquals(20, attach().welcome().getWelcome().getEventLogEnd(), "the journal outlived the collector");
        collector.close();
        try (EventJournal journal = EventJournal.open(dataDir.resolve("vms/vm"), Durability.NONE)) {
            assertEquals(10, journal.from());
            assertEquals(2, InputEvents.check(journal.log().events(), 10, 20));
        }
        collector = new TestCollector(dataDir);
    }

    @Test
    void malformedChunksEndTheCallAndLeaveJournalAndImageAlone() throws Exception {
        Attached attached = committed();
        RawEventLog log = eventLog(attached);
        log.send(chunk(0, 10, poll(3, 1), true)).awaitAck();
        log.end();
        attached.stream().out.onCompleted();
        byte[] image = Files.readAllBytes(dataDir.resolve("vms/vm/image.mem"));
        byte[] journal = Files.readAllBytes(dataDir.resolve("vms/vm/events.journal"));

        byte[] badPort = poll(12, 1);
        badPort[8] = 0x00; // port 0x500: the output port is no input
        byte[] truncated = java.util.Arrays.copyOf(fetch(12, "abc"), 21);
        List<EventLogChunk.Builder> refused = List.of(
                chunk(10, 20, badPort, false),
                chunk(10, 20, truncated, false),
                chunk(10, 20, poll(25, 1), false),          // outside [from, end)
                chunk(12, 20, poll(13, 1), false),          // leaves a gap after the journal's end
                chunk(20, 10, new byte[0], false),          // not a range
                chunk(10, 20, new byte[(1 << 20) + 20], false), // larger than a chunk may be
                chunk(10, 20, poll(12, 1), false).setLockstep(true).setOutputFrom(0) // more digests than a chunk holds
                        .addAllOutputDigests(java.util.Collections.nCopies(
                                io.cpstream.proto.Limit.MAX_OUTPUT_DIGESTS_VALUE + 1, 7L)));
        for (EventLogChunk.Builder bad : refused) {
            Attached again = attach();
            Status status = eventLog(again).send(bad).awaitClosed();
            assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), bad.getFrom() + ": " + status);
            again.stream().out.onCompleted();
        }
        assertArrayEquals(image, Files.readAllBytes(dataDir.resolve("vms/vm/image.mem")), "the image is untouched");
        assertArrayEquals(journal, Files.readAllBytes(dataDir.resolve("vms/vm/events.journal")), "the journal too");
        assertEquals(1, collector.committedEpoch("vm"));

        Attached next = attach();
        assertEquals(10, next.welcome().getWelcome().getEventLogEnd());
        assertEquals(11, eventLog(next).send(chunk(10, 11, poll(10, 7), false)).awaitAck(), "and goes on");
    }

    /**
     * A primary asking for lockstep when this collector cannot run its guest (not emu) is journaled as ever, and told
     * why in every acknowledgement, so that it releases as under replay instead of waiting for comparisons.
     */
    @Test
    void aLockstepChunkThatNoSecondaryCanServeIsJournaledAndToldWhy() throws Exception {
        Attached attached = committed();
        RawEventLog log = eventLog(attached);
        log.send(chunk(0, 10, poll(3, 1), true).setLockstep(true).setOutputFrom(0).addOutputDigests(42));
        io.cpstream.proto.EventLogAck ack = log.acks.poll(30, java.util.concurrent.TimeUnit.SECONDS);
        assertEquals(10, ack.getEnd());
        assertTrue(ack.getLockstepUnavailable().contains("cannot be replayed"), ack.toString());
        VmStatus status = AdminGrpc.newBlockingStub(collector.channel())
                .getVm(GetVmRequest.newBuilder().setVmId("vm").build());
        assertTrue(status.getLockstepState().startsWith("unavailable: "), status.toString());
    }

    @Test
    void onlyTheAttachedStreamsTokenIsHeard() throws Exception {
        Attached first = committed();
        RawEventLog log = eventLog(first);
        assertEquals(5, log.send(chunk(0, 5, poll(1, 1), true)).awaitAck());
        byte[] journal = Files.readAllBytes(dataDir.resolve("vms/vm/events.journal"));

        Status forged = new RawEventLog(collector.channel(), "vm", ByteString.copyFromUtf8("guessed"))
                .send(chunk(5, 6, poll(5, 1), false)).awaitClosed();
        assertEquals(Status.Code.UNAVAILABLE, forged.getCode(), forged.toString());

        Attached second = attach(); // the same agent reconnects: the first stream's token is stale from here on
        assertEquals(5, second.welcome().getWelcome().getEventLogEnd());
        Status stale = log.send(chunk(5, 6, poll(5, 1), false)).awaitClosed();
        assertEquals(Status.Code.UNAVAILABLE, stale.getCode(), stale.toString());
        assertArrayEquals(journal, Files.readAllBytes(dataDir.resolve("vms/vm/events.journal")), "nothing journaled");
        assertEquals(6, eventLog(second).send(chunk(5, 6, poll(5, 2), false)).awaitAck(), "the new token is heard");
    }

    @Test
    void aPromotedSnapshotHoldsEveryAcknowledgedInputAndNoneIsAcknowledgedAfter() throws Exception {
        Attached attached = committed();
        RawEventLog log = eventLog(attached);
        assertEquals(5, log.send(chunk(0, 5, poll(1, 1), true)).awaitAck());
        assertEquals(9, log.send(chunk(5, 9, fetch(7, "get k"), false)).awaitAck());

        PromoteResponse promoted = collector.promote("vm", true);
        Status after = log.send(chunk(9, 10, poll(9, 1), false)).awaitClosed();
        assertEquals(Status.Code.UNAVAILABLE, after.getCode(), after.toString());
        assertFalse(log.acks.stream().anyMatch(ack -> ack.getEnd() > 9), "an input acknowledged after the promotion");
        EventLog frozen = EventLog.read(Path.of(promoted.getSnapshotPath()).resolve(io.cpstream.snapshot.Snapshots.EVENT_LOG));
        assertEquals(0, frozen.from());
        assertEquals(9, frozen.end(), "the snapshot's log ends at the last acknowledged input");
        assertEquals(2, InputEvents.check(frozen.events(), 0, 9));
    }

    @Test
    void aTornLastRecordIsDroppedOnOpen() throws Exception {
        Path vm = dataDir.resolve("torn");
        Files.createDirectories(vm);
        try (EventJournal journal = EventJournal.open(vm, Durability.FSYNC)) {
            journal.append(0, 5, poll(1, 9), true, 0);
            journal.append(5, 9, fetch(6, "x"), false, 0);
        }
        Path file = vm.resolve("events.journal");
        byte[] whole = Files.readAllBytes(file);
        Files.write(file, java.util.Arrays.copyOf(whole, whole.length - 3)); // a crash while appending
        try (EventJournal journal = EventJournal.open(vm, Durability.FSYNC)) {
            assertEquals(5, journal.end(), "the torn record was never acknowledged: it is gone, the rest stays");
            assertEquals(1, InputEvents.check(journal.log().events(), 0, 5));
        }
    }
}
