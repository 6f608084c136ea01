package io.cpstream.collector;

import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.EventLogAck;
import io.cpstream.proto.EventLogChunk;
import io.cpstream.proto.Heartbeat;
import io.cpstream.proto.LeaseGrant;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.List;

/**
 * The replication endpoint: hands each new stream to a {@link ReplicationStream}, each lease call to a
 * {@link LeaseStream}, each event log call to an {@link EventLogStream}.
 */
final class ReplicationService extends ReplicationGrpc.ReplicationImplBase {

    private final StandbyRegistry registry;
    /** The stream's page batches are received into these; its observer gives each back once handled. */
    private final ReceiveBuffers receiveBuffers = new ReceiveBuffers();

    ReplicationService(StandbyRegistry registry) {
        this.registry = registry;
    }

    /**
     * What to add to the server: the generated binding, every call's requests parsed by an {@link AliasingMarshaller}
     * (page data without a copy on the stream, into lent arrays; the same answer to garbage, INVALID_ARGUMENT, on every
     * call). The lease and event log calls' messages are small, or copied where they are kept: arrays of their own.
     */
    ServerServiceDefinition binding() {
        ServerServiceDefinition generated = bindService();
        List<ServerMethodDefinition<?, ?>> methods = List.of(
                aliasing(generated, ReplicationGrpc.getStreamMethod(), AgentMessage.parser(), receiveBuffers),
                aliasing(generated, ReplicationGrpc.getLeaseMethod(), Heartbeat.parser(), null),
                aliasing(generated, ReplicationGrpc.getEventLogMethod(), EventLogChunk.parser(), null));
        if (generated.getMethods().size() != methods.size()) {
            throw new IllegalStateException("ReplicationService binds " + methods.size() + " calls; the generated "
                    + "service has " + generated.getMethods().size());
        }
        ServiceDescriptor.Builder service = ServiceDescriptor.newBuilder(generated.getServiceDescriptor().getName())
                .setSchemaDescriptor(generated.getServiceDescriptor().getSchemaDescriptor());
        methods.forEach(method -> service.addMethod(method.getMethodDescriptor()));
        ServerServiceDefinition.Builder bound = ServerServiceDefinition.builder(service.build());
        methods.forEach(bound::addMethod);
        return bound.build();
    }

    @SuppressWarnings("unchecked")
    private static <Q extends MessageLite, R> ServerMethodDefinition<Q, R> aliasing(
            ServerServiceDefinition generated, MethodDescriptor<Q, R> method, Parser<Q> parser,
            ReceiveBuffers buffers) {
        ServerMethodDefinition<Q, R> plain = (ServerMethodDefinition<Q, R>) generated.getMethod(method.getFullMethodName());
        MethodDescriptor<Q, R> descriptor = plain.getMethodDescriptor().toBuilder()
                .setRequestMarshaller(new AliasingMarshaller<>(plain.getMethodDescriptor().getRequestMarshaller(), parser,
                        buffers))
                .build();
        return ServerMethodDefinition.create(descriptor, plain.getServerCallHandler());
    }

    @Override
    public StreamObserver<Heartbeat> lease(StreamObserver<LeaseGrant> responseObserver) {
        return new LeaseStream(registry, (ServerCallStreamObserver<LeaseGrant>) responseObserver,
                PeerAuthorization.current());
    }

    @Override
    public StreamObserver<EventLogChunk> eventLog(StreamObserver<EventLogAck> responseObserver) {
        ServerCallStreamObserver<EventLogAck> acks = (ServerCallStreamObserver<EventLogAck>) responseObserver;
        acks.disableAutoRequest();
        EventLogStream call = new EventLogStream(registry, acks, PeerAuthorization.current());
        acks.request(1);
        return call;
    }

    @Override
    public StreamObserver<AgentMessage> stream(StreamObserver<CollectorMessage> responseObserver) {
        ServerCallStreamObserver<CollectorMessage> responses = (ServerCallStreamObserver<CollectorMessage>) responseObserver;
        responses.disableAutoRequest();
        ReplicationStream stream = new ReplicationStream(registry, responses, PeerAuthorization.current(),
                receiveBuffers);
        responses.request(1);
        return stream;
    }
}
