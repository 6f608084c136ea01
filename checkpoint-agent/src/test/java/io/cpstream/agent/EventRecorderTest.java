package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.output.FileOutputSink;
import com.google.protobuf.ByteString;
import io.cpstream.proto.EventLogAck;
import io.cpstream.proto.EventLogChunk;
import io.cpstream.proto.Limit;
import io.cpstream.proto.ReplicationGrpc;
import io.cpstream.tracker.RecordReplay;
import io.cpstream.tracker.replay.InputEvents;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.stub.StreamObserver;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The input log's group commit, over a real gRPC EventLog call: the recorder keeps at most a small window of chunks on
 * the wire until the collector acknowledges one, and the next message carries every input taken meanwhile, continuing
 * the log where the window ended. A bounded number of messages per round trip is what keeps the collector's journal
 * forces from falling behind a guest's input rate (a chunk every half millisecond, each forced, once queued the whole
 * stream).
 */
class EventRecorderTest {

    @TempDir
    Path dir;

    /** A recording guest as the recorder sees it: what a replay would need is not there. */
    private abstract static class RecordingGuest implements RecordReplay {
        @Override
        public void record(boolean on) {
        }

        @Override
        public void replay(byte[] events, long end, AtEnd atEnd) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void extendReplay(byte[] events, long end) {
            throw new UnsupportedOperationException();
        }

        @Override
        public boolean waitingAtReplayEnd() {
            return false;
        }

        @Override
        public void awaitReplayEnd(Duration timeout) {
            throw new UnsupportedOperationException();
        }
    }

    /** A guest that made one input-poll access, logged, between any two drains. */
    private static final class PollingGuest extends RecordingGuest {
        private long ordinal;

        @Override
        public synchronized Drained drainEvents(int maxBytes) {
            ByteBuffer event = ByteBuffer.allocate(InputEvents.HEADER).order(ByteOrder.LITTLE_ENDIAN);
            event.putLong(ordinal).putShort((short) InputEvents.PORT_INPUT_POLL).put((byte) InputEvents.KIND_VALUE)
                    .put((byte) 0).putInt(0).putInt(0);
            ordinal++;
            return new Drained(event.array(), ordinal);
        }

        @Override
        public synchronized long portOrdinal() {
            return ordinal;
        }

        @Override
        public boolean waitingForInput() {
            return false;
        }
    }

    /** A collector that only takes input chunks, and acknowledges them when the test says. */
    private static final class Collector extends ReplicationGrpc.ReplicationImplBase {
        final BlockingQueue<EventLogChunk> received = new LinkedBlockingQueue<>();
        volatile StreamObserver<EventLogAck> replies;

        @Override
        public StreamObserver<EventLogChunk> eventLog(StreamObserver<EventLogAck> responses) {
            replies = responses;
            return new StreamObserver<>() {
                @Override
                public void onNext(EventLogChunk chunk) {
                    received.add(chunk);
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                    responses.onCompleted();
                }
            };
        }

        synchronized void acknowledge(long end) {
            replies.onNext(EventLogAck.newBuilder().setEnd(end).build());
        }
    }

    /**
     * A recorder of {@code guest} on one EventLog call to a {@link Collector} over loopback, its pump running; the
     * collector's journal holds nothing, so the first chunk restarts the log.
     */
    private static final class OneCall implements AutoCloseable {
        final Collector collector = new Collector();
        final Server server;
        final ManagedChannel channel;
        final EventLogCall call;
        final EventRecorder recorder;
        final Thread pump;

        OneCall(RecordReplay guest, Path dir) throws Exception {
            server = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()).addService(collector).build()
                    .start();
            channel = Grpc.newChannelBuilder("127.0.0.1:" + server.getPort(), InsecureChannelCredentials.create())
                    .build();
            OutputGate outputs = new OutputGate("vm", 0, new FileOutputSink(dir.resolve("released.log")),
                    new PrimaryLease(), 1 << 20, max -> List.of());
            EventRecorder[] late = new EventRecorder[1]; // the call's callbacks reach the recorder made after it
            call = new EventLogCall(channel, "vm", ByteString.copyFromUtf8("token"), ack -> late[0].acked(ack.getEnd()),
                    () -> late[0].wake(), status -> { });
            recorder = new EventRecorder("vm", guest, outputs, () -> call, roundTrip -> { }, null, false);
            late[0] = recorder;
            recorder.begin();
            recorder.welcomed(call, 0);
            pump = Thread.ofPlatform().start(recorder);
        }

        @Override
        public void close() throws Exception {
            recorder.stop();
            pump.join();
            call.cancel();
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aBoundedWindowOfChunksIsOnTheWireAndTheNextCarriesEverythingTakenMeanwhile() throws Exception {
        try (OneCall rig = new OneCall(new PollingGuest(), dir)) {
            Collector collector = rig.collector;
            EventLogChunk first = collector.received.poll(10, TimeUnit.SECONDS);
            assertNotNull(first, "the first chunk");
            assertTrue(first.getRestart());
            assertEquals(0, first.getFrom());
            assertEquals("vm", first.getVmId());
            assertEquals("token", first.getLeaseToken().toStringUtf8(), "each chunk presents the stream's token");
            long end = first.getEnd();
            for (int i = 1; i < EventRecorder.MAX_IN_FLIGHT; i++) {
                EventLogChunk next = collector.received.poll(10, TimeUnit.SECONDS);
                assertNotNull(next, "chunk " + i + " of the window");
                assertEquals(end, next.getFrom(), "the log continues where the chunk before ended");
                end = next.getEnd();
            }

            // The guest goes on making inputs; none of them leaves while the window is full.
            Thread.sleep(200);
            assertNull(collector.received.peek(), "a chunk went out beyond the window of "
                    + EventRecorder.MAX_IN_FLIGHT + " unacknowledged ones");

            collector.acknowledge(first.getEnd());
            EventLogChunk after = collector.received.poll(10, TimeUnit.SECONDS);
            assertNotNull(after, "the chunk after the acknowledgement");
            assertFalse(after.getRestart());
            assertEquals(end, after.getFrom(), "the log continues where the window ended");
            int events = InputEvents.check(after.getEvents().toByteArray(), after.getFrom(), after.getEnd());
            assertTrue(events > 1, "the inputs of 200 ms went as one message, not " + events + " event(s)");
            assertTrue(after.getEvents().size() <= Limit.MAX_CHUNK_BYTES_VALUE);
            Thread.sleep(100);
            assertNull(collector.received.peek(), "again no more than the window");
        }
    }

    /**
     * A guest that, once told to go on, makes a few accesses with no input (the tail of an output, say) and then waits in
     * its input poll.
     */
    private static final class IdleGuest extends RecordingGuest {
        static final long WAITS_AT = 5;
        volatile long ordinal;

        @Override
        public Drained drainEvents(int maxBytes) {
            return new Drained(new byte[0], ordinal);
        }

        @Override
        public long portOrdinal() {
            return ordinal;
        }

        @Override
        public boolean waitingForInput() {
            return ordinal == WAITS_AT;
        }
    }

    /**
     * A guest gone idle in its input poll gets the journal brought to that poll, once, though no input or output came
     * since the last chunk: a promotion then resumes it where the primary waits, not inside the access before.
     */
    @Test
    void aGuestIdleInItsInputPollHasTheJournalBroughtToThatPollOnce() throws Exception {
        IdleGuest guest = new IdleGuest();
        try (OneCall rig = new OneCall(guest, dir)) {
            Collector collector = rig.collector;
            guest.ordinal = IdleGuest.WAITS_AT;
            EventLogChunk chunk = collector.received.poll(10, TimeUnit.SECONDS);
            assertNotNull(chunk, "a chunk to where the idle guest waits");
            assertEquals(0, chunk.getFrom());
            assertEquals(IdleGuest.WAITS_AT, chunk.getEnd());
            assertEquals(0, chunk.getEvents().size());
            collector.acknowledge(chunk.getEnd());
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
                    .until(() -> rig.recorder.acknowledgedEnd() == IdleGuest.WAITS_AT);
            Thread.sleep(100); // the pump ran about 200 times meanwhile
            assertNull(collector.received.peek(), "only once: the journal already reaches the poll");
        }
    }

    /**
     * Quasi-lockstep: each message carries the digests of the outputs taken since the last, from where the last one's
     * ended; those the collector says it compared are dropped, and a new call (another collector, or the same after
     * a reconnect) is sent again every digest not compared yet.
     */
    @Test
    void underLockstepDigestsRideWithTheInputsUntilCompared() throws Exception {
        Collector collector = new Collector();
        Server server = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()).addService(collector)
                .build().start();
        ManagedChannel channel = Grpc.newChannelBuilder("127.0.0.1:" + server.getPort(),
                InsecureChannelCredentials.create()).build();
        java.util.concurrent.ConcurrentLinkedQueue<io.cpstream.tracker.GuestOutput> emitted =
                new java.util.concurrent.ConcurrentLinkedQueue<>();
        OutputGate outputs = new OutputGate("vm", 0, new FileOutputSink(dir.resolve("released.log")), new PrimaryLease(),
                1 << 20, max -> {
                    List<io.cpstream.tracker.GuestOutput> taken = new java.util.ArrayList<>();
                    for (io.cpstream.tracker.GuestOutput output; (output = emitted.poll()) != null; ) {
                        taken.add(output);
                    }
                    return taken;
                });
        EventRecorder[] recorder = new EventRecorder[1];
        java.util.concurrent.atomic.AtomicReference<EventLogCall> current = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.function.Supplier<EventLogCall> open = () -> new EventLogCall(channel, "vm",
                ByteString.copyFromUtf8("token"), ack -> {
                    if (ack.getEnd() > 0) {
                        recorder[0].acked(ack.getEnd());
                    }
                    recorder[0].compared(ack.getComparedOutputEnd(), ack.getLockstepUnavailable());
                }, () -> recorder[0].wake(), status -> { });
        recorder[0] = new EventRecorder("vm", new PollingGuest(), outputs, current::get, roundTrip -> { }, null, true);
        recorder[0].begin();
        for (int i = 0; i < 3; i++) {
            emitted.add(new io.cpstream.tracker.GuestOutput(0, i, new byte[] {(byte) i}));
        }
        current.set(open.get());
        recorder[0].welcomed(current.get(), 0);
        Thread pump = Thread.ofPlatform().start(recorder[0]);
        try {
            EventLogChunk first = collector.received.poll(10, TimeUnit.SECONDS);
            assertNotNull(first);
            assertTrue(first.getLockstep());
            assertEquals(0, first.getOutputFrom());
            assertEquals(List.of(digest(0), digest(1), digest(2)), first.getOutputDigestsList());

            // Inputs journaled to its end, outputs 0 and 1 compared: output 2's digest is kept, 0 and 1 dropped.
            collector.replies.onNext(EventLogAck.newBuilder().setEnd(first.getEnd()).setComparedOutputEnd(2).build());
            emitted.add(new io.cpstream.tracker.GuestOutput(0, 3, new byte[] {3}));
            EventLogChunk next = awaitDigests(collector);
            assertEquals(3, next.getOutputFrom(), "each digest once on a call");
            assertEquals(List.of(digest(3)), next.getOutputDigestsList());

            // A new call: the collector behind it is sent every digest not compared yet.
            current.get().cancel();
            collector.received.clear();
            current.set(open.get());
            recorder[0].welcomed(current.get(), first.getEnd());
            EventLogChunk again = awaitDigests(collector);
            assertEquals(2, again.getOutputFrom());
            assertEquals(List.of(digest(2), digest(3)), again.getOutputDigestsList());
        } finally {
            recorder[0].stop();
            pump.join();
            current.get().cancel();
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static long digest(int output) {
        return io.cpstream.tracker.replay.OutputDigest.of(new byte[] {(byte) output});
    }

    /** The next message that carries digests (those between carry inputs alone). */
    private static EventLogChunk awaitDigests(Collector collector) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            EventLogChunk chunk = collector.received.poll(100, TimeUnit.MILLISECONDS);
            if (chunk != null && chunk.getOutputDigestsCount() > 0) {
                return chunk;
            }
        }
        throw new AssertionError("no message carried digests");
    }
}
