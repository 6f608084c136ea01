package io.cpstream.collector;

import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.DeleteVmRequest;
import io.cpstream.proto.DeleteVmResponse;
import io.cpstream.proto.FencingEpochRequest;
import io.cpstream.proto.FencingEpochResponse;
import io.cpstream.proto.GetVmRequest;
import io.cpstream.proto.ListVmsRequest;
import io.cpstream.proto.ListVmsResponse;
import io.cpstream.proto.PromoteRequest;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmStatus;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;

/**
 * The operators' API: each call is one lookup in the registry; refusals become statuses here, at the edge. Who may
 * call what is {@link PeerAuthorization}'s; every action that changes something is audited, with its result.
 */
final class AdminService extends AdminGrpc.AdminImplBase {

    private final StandbyRegistry registry;
    private final AuditLog audit;

    AdminService(StandbyRegistry registry, AuditLog audit) {
        this.registry = registry;
        this.audit = audit;
    }

    @Override
    public void listVms(ListVmsRequest request, StreamObserver<ListVmsResponse> responses) {
        ListVmsResponse.Builder list = ListVmsResponse.newBuilder();
        registry.all().forEach(standby -> list.addVms(standby.status()));
        responses.onNext(list.build());
        responses.onCompleted();
    }

    @Override
    public void getVm(GetVmRequest request, StreamObserver<VmStatus> responses) {
        try {
            responses.onNext(registry.existing(request.getVmId()).status());
            responses.onCompleted();
        } catch (StandbyException e) {
            responses.onError(Statuses.of(e).asException());
        }
    }

    @Override
    public void getFencingEpoch(FencingEpochRequest request, StreamObserver<FencingEpochResponse> responses) {
        try {
            responses.onNext(FencingEpochResponse.newBuilder().setVmId(request.getVmId())
                    .setFencingEpoch(registry.existing(request.getVmId()).fencingEpoch()).build());
            responses.onCompleted();
        } catch (StandbyException e) {
            responses.onError(Statuses.of(e).asException());
        }
    }

    @Override
    public void promote(PromoteRequest request, StreamObserver<PromoteResponse> responses) {
        String action = request.getForce() ? "Promote(force)" : "Promote";
        try {
            PromoteResponse promoted = registry.promote(request.getVmId(), request.getForce());
            audit.record(PeerAuthorization.current(), action, request.getVmId(), "OK: fencing epoch "
                    + promoted.getFencingEpoch() + ", epoch " + promoted.getPromotedEpoch());
            responses.onNext(promoted);
            responses.onCompleted();
        } catch (StandbyException e) {
            refused(action, request.getVmId(), Statuses.of(e), responses);
        }
    }

    @Override
    public void deleteVm(DeleteVmRequest request, StreamObserver<DeleteVmResponse> responses) {
        String action = request.getForce() ? "DeleteVm(force)" : "DeleteVm";
        try {
            DeleteVmResponse deleted = registry.delete(request.getVmId(), request.getForce());
            audit.record(PeerAuthorization.current(), action, request.getVmId(), "OK: at epoch "
                    + deleted.getCommittedEpoch());
            responses.onNext(deleted);
            responses.onCompleted();
        } catch (StandbyException e) {
            refused(action, request.getVmId(), Statuses.of(e), responses);
        }
    }

    private void refused(String action, String vm, Status status, StreamObserver<?> responses) {
        audit.record(PeerAuthorization.current(), action, vm, status.getCode() + ": " + status.getDescription());
        responses.onError(status.asException());
    }
}
