package io.cpstream.collector;

import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.GetVmRequest;
import io.cpstream.proto.PromoteRequest;
import io.cpstream.proto.PromoteResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.UnaryOperator;

/** A collector on loopback for tests, with a channel to it for raw agents and the admin API. */
final class TestCollector implements AutoCloseable {

    private final Path dataDir;
    private final UnaryOperator<CollectorConfig> settings;
    private CollectorServer server;
    private ManagedChannel channel;

    TestCollector(Path dataDir) throws IOException {
        this(dataDir, UnaryOperator.identity());
    }

    /** A collector whose config is the defaults changed by {@code settings} (plaintext unless it sets TLS). */
    TestCollector(Path dataDir, UnaryOperator<CollectorConfig> settings) throws IOException {
        this.dataDir = dataDir;
        this.settings = settings;
        start();
    }

    private void start() throws IOException {
        CollectorConfig config = settings.apply(CollectorConfig.of("127.0.0.1", 0, dataDir));
        server = CollectorServer.start(config, new SimpleMeterRegistry());
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget("127.0.0.1:" + server.port());
        channel = (config.tls().insecure() ? builder.usePlaintext() : builder).build();
    }

    int port() {
        return server.port();
    }

    /** Stops the collector, then starts a new one over the same data directory (on another port). */
    void restart() throws IOException {
        close();
        start();
    }

    ManagedChannel channel() {
        return channel;
    }

    RawAgent agent() {
        return new RawAgent(channel);
    }

    /** The standby of {@code vm} inside the collector, or null. */
    Standby standby(String vm) {
        return server.registry().find(vm);
    }

    long committedEpoch(String vm) {
        return AdminGrpc.newBlockingStub(channel).getVm(GetVmRequest.newBuilder().setVmId(vm).build()).getCommittedEpoch();
    }

    PromoteResponse promote(String vm, boolean force) {
        return AdminGrpc.newBlockingStub(channel).promote(PromoteRequest.newBuilder().setVmId(vm).setForce(force).build());
    }

    @Override
    public void close() {
        channel.shutdownNow();
        server.close();
    }
}
