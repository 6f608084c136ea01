package io.cpstream.collector;

import com.google.protobuf.ByteString;
import io.cpstream.proto.EventLogAck;
import io.cpstream.proto.EventLogChunk;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** An agent's EventLog call written by hand: chunks out (well-formed or not), acknowledgements and the ending recorded. */
final class RawEventLog {

    final BlockingQueue<EventLogAck> acks = new LinkedBlockingQueue<>();
    final CompletableFuture<Status> closed = new CompletableFuture<>();
    private final StreamObserver<EventLogChunk> out;
    private final String vm;
    private final ByteString token;

    /** A call for {@code vm}, presenting {@code token} (a Welcome's lease token) with every chunk. */
    RawEventLog(ManagedChannel channel, String vm, ByteString token) {
        this.vm = vm;
        this.token = token;
        out = ReplicationGrpc.newStub(channel).eventLog(new StreamObserver<>() {
            @Override
            public void onNext(EventLogAck ack) {
                acks.add(ack);
            }

            @Override
            public void onError(Throwable t) {
                closed.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                closed.complete(Status.OK);
            }
        });
    }

    static EventLogChunk.Builder chunk(long from, long end, byte[] events, boolean restart) {
        return EventLogChunk.newBuilder().setFrom(from).setEnd(end).setEvents(ByteString.copyFrom(events))
                .setRestart(restart);
    }

    /** Sends {@code chunk} as this call's VM and token. */
    RawEventLog send(EventLogChunk.Builder chunk) {
        out.onNext(chunk.setVmId(vm).setLeaseToken(token).build());
        return this;
    }

    /** The end the next acknowledgement names. */
    long awaitAck() throws InterruptedException {
        EventLogAck ack = acks.poll(30, TimeUnit.SECONDS);
        if (ack == null) {
            throw new AssertionError("no acknowledgement within 30 s" + (closed.isDone() ? "; the call ended: "
                    + closed.join() : ""));
        }
        return ack.getEnd();
    }

    Status awaitClosed() throws Exception {
        return closed.get(Duration.ofSeconds(30).toMillis(), TimeUnit.MILLISECONDS);
    }

    void end() {
        out.onCompleted();
    }
}
