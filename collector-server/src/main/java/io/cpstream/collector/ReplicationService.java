package io.cpstream.collector;

import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/** The replication endpoint: hands each new stream to a {@link ReplicationStream}. */
final class ReplicationService extends ReplicationGrpc.ReplicationImplBase {

    private final StandbyRegistry registry;

    ReplicationService(StandbyRegistry registry) {
        this.registry = registry;
    }

    @Override
    public StreamObserver<AgentMessage> stream(StreamObserver<CollectorMessage> responseObserver) {
        ServerCallStreamObserver<CollectorMessage> responses = (ServerCallStreamObserver<CollectorMessage>) responseObserver;
        responses.disableAutoRequest();
        ReplicationStream stream = new ReplicationStream(registry, responses);
        responses.request(1);
        return stream;
    }
}
