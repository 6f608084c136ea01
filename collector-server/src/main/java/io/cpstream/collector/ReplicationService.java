package io.cpstream.collector;

import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/** The replication endpoint: hands each new stream to a {@link ReplicationStream}. */
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
                .setSchemaDescriptor(generated.getServiceDescriptor().getSchemaDescriptor());
        ServerServiceDefinition.Builder binding = ServerServiceDefinition.builder(service.addMethod(aliasing).build());
        binding.addMethod(aliasing, stream.getServerCallHandler());
        for (ServerMethodDefinition<?, ?> other : generated.getMethods()) {
            if (other != stream) {
                throw new IllegalStateException("ReplicationService binds only its stream; found "
                        + other.getMethodDescriptor().getFullMethodName());
            }
        }
        return binding.build();
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
