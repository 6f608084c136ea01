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
final class LeaseCall extends SideCall<Heartbeat> {

    private final String vm;
    private final ByteString token;

    /**
     * Opens the call on {@code channel} for {@code vm}, presenting {@code token} (the attached stream's
     * Welcome.lease_token); each grant goes to {@code onGrant}, on gRPC's thread.
     */
    LeaseCall(ManagedChannel channel, String vm, ByteString token, Consumer<LeaseGrant> onGrant) {
        this.vm = vm;
        this.token = token;
        ReplicationGrpc.newStub(channel).lease(new ClientResponseObserver<Heartbeat, LeaseGrant>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<Heartbeat> call) {
                started(call);
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
    }

    /** Sends heartbeat {@code sequence} if the call can take it now; false when it was skipped or the call ended. */
    boolean offer(long sequence) {
        return offer(Heartbeat.newBuilder()
                .setSequence(sequence)
                .setSentUnixMicros(TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis()))
                .setVmId(vm)
                .setLeaseToken(token)
                .build());
    }
}
