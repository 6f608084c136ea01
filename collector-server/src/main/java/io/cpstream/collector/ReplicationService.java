package io.cpstream.collector;

import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.Heartbeat;
import io.cpstream.proto.LeaseGrant;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/** The replication endpoint: hands each new stream to a {@link ReplicationStream}, each lease call to a {@link LeaseStream}. */
final class ReplicationService extends ReplicationGrpc.ReplicationImplBase {

    private final StandbyRegistry registry;

    ReplicationService(StandbyRegistry registry) {
        this.registry = registry;
    }

    /** What to add to the server: the generated binding, the stream's requests parsed by an {@link AliasingMarshaller}. */
    ServerServiceDefinition binding() {
        ServerServiceDefinition generated = bindService();
        @SuppressWarnings("unchecked")
        ServerMethodDefinition<AgentMessage, CollectorMessage> stream =
                (ServerMethodDefinition<AgentMessage, CollectorMessage>) generated.getMethod(
                        ReplicationGrpc.getStreamMethod().getFullMethodName());
        MethodDescriptor<AgentMessage, CollectorMessage> aliasing = stream.getMethodDescriptor().toBuilder()
                .setRequestMarshaller(new AliasingMarshaller<>(stream.getMethodDescriptor().getRequestMarshaller(),
                        AgentMessage.parser()))
                .build();
        ServiceDescriptor.Builder service = ServiceDescriptor.newBuilder(generated.getServiceDescriptor().getName())
                .setSchemaDescriptor(generated.getServiceDescriptor().getSchemaDescriptor()).addMethod(aliasing);
        @SuppressWarnings("unchecked")
        ServerMethodDefinition<Heartbeat, LeaseGrant> lease = (ServerMethodDefinition<Heartbeat, LeaseGrant>)
                generated.getMethod(ReplicationGrpc.getLeaseMethod().getFullMethodName());
        // Heartbeats through the same marshaller, for the same answer to garbage (INVALID_ARGUMENT).
        MethodDescriptor<Heartbeat, LeaseGrant> leaseMethod = lease.getMethodDescriptor().toBuilder()
                .setRequestMarshaller(new AliasingMarshaller<>(lease.getMethodDescriptor().getRequestMarshaller(),
                        Heartbeat.parser()))
                .build();
        service.addMethod(leaseMethod);
        for (ServerMethodDefinition<?, ?> other : generated.getMethods()) {
            if (other != stream && other != lease) {
                throw new IllegalStateException("ReplicationService binds its stream and lease calls only; found "
                        + other.getMethodDescriptor().getFullMethodName());
            }
        }
        return ServerServiceDefinition.builder(service.build()).addMethod(aliasing, stream.getServerCallHandler())
                .addMethod(leaseMethod, lease.getServerCallHandler()).build();
    }

    @Override
    public StreamObserver<Heartbeat> lease(StreamObserver<LeaseGrant> responseObserver) {
        return new LeaseStream(registry, (ServerCallStreamObserver<LeaseGrant>) responseObserver,
                PeerAuthorization.current());
    }

    @Override
    public StreamObserver<AgentMessage> stream(StreamObserver<CollectorMessage> responseObserver) {
        ServerCallStreamObserver<CollectorMessage> responses = (ServerCallStreamObserver<CollectorMessage>) responseObserver;
        responses.disableAutoRequest();
        ReplicationStream stream = new ReplicationStream(registry, responses, PeerAuthorization.current());
        responses.request(1);
        return stream;
    }
}
