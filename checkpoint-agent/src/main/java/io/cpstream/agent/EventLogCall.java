package io.cpstream.agent;

import com.google.protobuf.ByteString;
import io.cpstream.proto.EventLogAck;
import io.cpstream.proto.EventLogChunk;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.function.Consumer;

/**
 * Record/replay protection's EventLog call to the collector the agent streams to, on the Lease call's connection:
 * chunks of the guest's inputs out, acknowledgements in. Beside the replication stream, not on it, so that an input
 * (and the output waiting for it) never queues behind page data or behind the collector's handling of a checkpoint.
 * A chunk is offered, never waited for: when the call cannot take it now the recorder keeps it, and is woken by
 * {@code onReady} to try again.
 */
final class EventLogCall extends SideCall<EventLogChunk> {

    private final String vm;
    private final ByteString token;

    /**
     * Opens the call on {@code channel} for {@code vm}, presenting {@code token} (the attached stream's
     * Welcome.lease_token) with each chunk. On gRPC's threads: each acknowledgement goes to {@code onAck}, the
     * transport's readiness to {@code onReady}, and the call's end, unless this side cancelled it, to {@code onEnd}.
     */
    EventLogCall(ManagedChannel channel, String vm, ByteString token, Consumer<EventLogAck> onAck, Runnable onReady,
                 Consumer<Status> onEnd) {
        this.vm = vm;
        this.token = token;
        // Acknowledgements are handled on the transport thread that read them: they only move a mark and wake the
        // releaser, and an output waits for them; a hop to gRPC's pool was one more wake-up in that wait.
        ReplicationGrpc.ReplicationStub stub = ReplicationGrpc.newStub(channel).withExecutor(Runnable::run);
        stub.eventLog(new ClientResponseObserver<EventLogChunk, EventLogAck>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<EventLogChunk> call) {
                started(call);
                call.setOnReadyHandler(onReady);
            }

            @Override
            public void onNext(EventLogAck ack) {
                onAck.accept(ack);
            }

            @Override
            public void onError(Throwable t) {
                if (markClosed()) {
                    onEnd.accept(Status.fromThrowable(t));
                }
            }

            @Override
            public void onCompleted() {
                if (markClosed()) {
                    onEnd.accept(Status.UNAVAILABLE.withDescription("the collector ended the event log call"));
                }
            }
        });
    }

    /** Sends {@code chunk} as this VM's, under the token, if the call can take it now; false when it cannot. */
    boolean offer(EventLogChunk.Builder chunk) {
        return offer(chunk.setVmId(vm).setLeaseToken(token).build());
    }
}
