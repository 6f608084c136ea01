package io.cpstream.collector;

import io.cpstream.security.ClientText;
import io.cpstream.proto.Heartbeat;
import io.cpstream.proto.LeaseGrant;
import io.cpstream.proto.Limit;
import io.cpstream.security.Identity;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/**
 * One agent's Lease call: each heartbeat renews the lease of the VM it names, when it presents the token of the
 * stream attached there ({@link Standby#renew}); any other heartbeat gets no answer, so that nothing tells a
 * stranger which VMs this collector holds. One heartbeat is taken at a time, and answered only while the answer
 * can leave (a peer that never reads its grants holds nothing here but the call).
 */
final class LeaseStream implements StreamObserver<Heartbeat> {

    private final StandbyRegistry registry;
    private final ServerCallStreamObserver<LeaseGrant> grants;
    private final Identity peer;
    private boolean closed;

    LeaseStream(StandbyRegistry registry, ServerCallStreamObserver<LeaseGrant> grants, Identity peer) {
        this.registry = registry;
        this.grants = grants;
        this.peer = peer;
    }

    @Override
    public void onNext(Heartbeat heartbeat) {
        if (closed) {
            return;
        }
        if (heartbeat == null) {
            grants.onError(Status.INVALID_ARGUMENT.withDescription("invalid protobuf message").asRuntimeException());
            closed = true;
            return;
        }
        if (heartbeat.getVmId().length() > Limit.MAX_LABEL_BYTES_VALUE
                || heartbeat.getLeaseToken().size() > Limit.MAX_LABEL_BYTES_VALUE) {
            grants.onError(Status.INVALID_ARGUMENT.withDescription("a heartbeat's vm id and lease token are at most "
                    + Limit.MAX_LABEL_BYTES_VALUE + " bytes").asRuntimeException());
            closed = true;
            return;
        }
        if (!peer.mayProtect(heartbeat.getVmId())) {
            grants.onError(Status.PERMISSION_DENIED.withDescription(peer + " may not hold the lease of vm "
                    + ClientText.quote(heartbeat.getVmId())).asRuntimeException());
            closed = true;
            return;
        }
        Standby standby = registry.find(heartbeat.getVmId());
        // The stream attached under the token must be this peer's too: a token alone does not transfer a lease.
        LeaseGrant grant = standby == null ? null : standby.renew(heartbeat, peer);
        // A grant the transport cannot take now is dropped, not queued: the next heartbeat earns a fresh one.
        if (grant != null && grants.isReady()) {
            grants.onNext(grant);
        }
    }

    @Override
    public void onError(Throwable t) {
        // The agent went away; its lease runs out by itself.
    }

    @Override
    public void onCompleted() {
        if (!closed) {
            closed = true;
            grants.onCompleted();
        }
    }
}
