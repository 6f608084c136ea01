package io.cpstream.collector;

import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.GetVmRequest;
import io.cpstream.proto.ListVmsRequest;
import io.cpstream.proto.ListVmsResponse;
import io.cpstream.proto.PromoteRequest;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmStatus;
import io.grpc.stub.StreamObserver;

/** The operators' API: each call is one lookup in the registry; refusals become statuses here, at the edge. */
final class AdminService extends AdminGrpc.AdminImplBase {

    private final StandbyRegistry registry;

    AdminService(StandbyRegistry registry) {
        this.registry = registry;
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
    public void promote(PromoteRequest request, StreamObserver<PromoteResponse> responses) {
        try {
            responses.onNext(registry.promote(request.getVmId(), request.getForce()));
            responses.onCompleted();
        } catch (StandbyException e) {
            responses.onError(Statuses.of(e).asException());
        }
    }
}
