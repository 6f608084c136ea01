package io.cpstream.agent;

import com.google.protobuf.ByteString;
import io.cpstream.proto.Heartbeat;
import io.cpstream.proto.LeaseGrant;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.ManagedChannel;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The agent's Lease call to the collector it streams to, on a connection of its own: heartbeats out, grants in.
 * A heartbeat never waits: when the call cannot take one now it is skipped (the next one follows within an
 * interval), so a congested link delays no lease renewal behind page data, and nothing piles up.
 */
final class LeaseCall {

    private final String vm;
    private final ByteString token;
    private final ClientCallStreamObserver<Heartbeat> heartbeats;
    private boolean closed;

    /**
     * Opens the call on {@code channel} for {@code vm}, presenting {@code token} (the attached stream's
     * Welcome.lease_token); each grant goes to {@code onGrant}, on gRPC's thread.
     */
    @SuppressWarnings("unchecked")
    LeaseCall(ManagedChannel channel, String vm, ByteString token, Consumer<LeaseGrant> onGrant) {
        this.vm = vm;
        this.token = token;
        ClientCallStreamObserver<Heartbeat>[] holder = new ClientCallStreamObserver[1];
        ReplicationGrpc.newStub(channel).lease(new ClientResponseObserver<Heartbeat, LeaseGrant>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<Heartbeat> call) {
                holder[0] = call;
            }

            @Override
            public void onNext(LeaseGrant grant) {
                onGrant.accept(grant);
            }

            @Override
            public void onError(Throwable t) {
                markClosed();
            }

            @Override
            public void onCompleted() {
                markClosed();
            }
        });
        this.heartbeats = holder[0];
    }

    /** Sends heartbeat {@code sequence} if the call can take it now; false when it was skipped or the call ended. */
    synchronized boolean offer(long sequence) {
        if (closed || !heartbeats.isReady()) {
            return false;
        }
        heartbeats.onNext(Heartbeat.newBuilder()
                .setSequence(sequence)
                .setSentUnixMicros(TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis()))
                .setVmId(vm)
                .setLeaseToken(token)
                .build());
        return true;
    }

    /** Whether the call ended (the collector or the connection closed it): a new one is needed. */
    synchronized boolean closed() {
        return closed;
    }

    synchronized void cancel() {
        if (!closed) {
            closed = true;
            heartbeats.cancel("the replication stream ended", null);
        }
    }

    private synchronized void markClosed() {
        closed = true;
    }
}
