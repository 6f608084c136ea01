package io.cpstream.collector.client;

import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.DeleteVmRequest;
import io.cpstream.proto.DeleteVmResponse;
import io.cpstream.security.PkiException;
import io.cpstream.security.Role;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsSettings;
import io.cpstream.proto.ListVmsRequest;
import io.cpstream.proto.PromoteRequest;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmStatus;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The operator's side of the admin API. */
public final class AdminClient implements AutoCloseable {

    private final String target;
    private final ManagedChannel channel;
    private final AdminGrpc.AdminBlockingStub stub;

    /** A plaintext client, for a collector run with {@code --insecure}. */
    public AdminClient(String target) {
        this(target, TlsSettings.INSECURE);
    }

    /** A client of the collector at {@code target}, with mutual TLS unless {@code tls} is insecure. */
    public AdminClient(String target, TlsSettings tls) {
        this.target = target;
        try {
            channel = Tls.secure(NettyChannelBuilder.forTarget(target), tls, Role.COLLECTOR).build();
        } catch (PkiException e) {
            throw new IllegalArgumentException("TLS: " + e.getMessage(), e);
        }
        stub = AdminGrpc.newBlockingStub(channel);
    }

    public List<VmStatus> list() {
        return stub.withDeadlineAfter(10, TimeUnit.SECONDS).listVms(ListVmsRequest.getDefaultInstance()).getVmsList();
    }

    /** The VM's status, or null when the collector has no such VM. */
    public VmStatus get(String vm) {
        try {
            return stub.withDeadlineAfter(10, TimeUnit.SECONDS)
                    .getVm(io.cpstream.proto.GetVmRequest.newBuilder().setVmId(vm).build());
        } catch (io.grpc.StatusRuntimeException e) {
            if (e.getStatus().getCode() == io.grpc.Status.Code.NOT_FOUND) {
                return null;
            }
            throw e;
        }
    }

    /**
     * The fencing epoch the collector holds for {@code vm}, or -1 when it has no such VM; answered within
     * {@code deadlineMillis} or a {@link io.grpc.StatusRuntimeException}.
     */
    public long fencingEpoch(String vm, long deadlineMillis) {
        try {
            return stub.withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS)
                    .getFencingEpoch(io.cpstream.proto.FencingEpochRequest.newBuilder().setVmId(vm).build())
                    .getFencingEpoch();
        } catch (io.grpc.StatusRuntimeException e) {
            if (e.getStatus().getCode() == io.grpc.Status.Code.NOT_FOUND) {
                return -1;
            }
            throw e;
        }
    }

    public PromoteResponse promote(String vm, boolean force) {
        // Writing the snapshot reads the whole image: allow for large guests.
        return stub.withDeadlineAfter(10, TimeUnit.MINUTES)
                .promote(PromoteRequest.newBuilder().setVmId(vm).setForce(force).build());
    }

    /** Deletes the VM's standby and snapshots from the collector (admin role). */
    public DeleteVmResponse delete(String vm, boolean force) {
        return stub.withDeadlineAfter(1, TimeUnit.MINUTES)
                .deleteVm(DeleteVmRequest.newBuilder().setVmId(vm).setForce(force).build());
    }

    @Override
    public String toString() {
        return "collector at " + target;
    }

    @Override
    public void close() {
        channel.shutdownNow();
    }
}
