package io.cpstream.collector;

import io.cpstream.collector.lease.LeaseAuthority;
import io.cpstream.collector.lease.LocalLeases;
import io.cpstream.collector.lease.ZooKeeperLeases;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import io.cpstream.proto.VmStatus;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/** A running collector: the gRPC server with the replication and admin services over one registry. */
public final class CollectorServer implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(CollectorServer.class.getName());
    /** A page batch is about 1 MiB; leave room for protobuf framing and device state. */
    static final int MAX_INBOUND_MESSAGE_BYTES = 4 << 20;
    /** Lets an agent keep several page batches on the wire while one is being applied. */
    static final int FLOW_CONTROL_WINDOW = 8 << 20;

    private final CollectorConfig config;
    private final StandbyRegistry registry;
    private final ExecutorService executor;
    private final Server server;
    private boolean closed;

    private final LeaseAuthority leases;

    private CollectorServer(CollectorConfig config, StandbyRegistry registry, ExecutorService executor,
                            Server server, LeaseAuthority leases) {
        this.leases = leases;
        this.config = config;
        this.registry = registry;
        this.executor = executor;
        this.server = server;
    }

    public static CollectorServer start(CollectorConfig config, MeterRegistry meters) throws IOException {
        String collectorId = config.host() + ":" + config.port() + "/" + ProcessHandle.current().pid();
        LeaseAuthority leases = leaseAuthority(config, collectorId);
        StandbyRegistry registry;
        try {
            registry = StandbyRegistry.open(config, collectorId, meters, leases);
        } catch (IOException | RuntimeException e) {
            leases.close();
            throw e;
        }
        ExecutorService executor = Executors.newCachedThreadPool(Thread.ofPlatform().daemon().name("collector-", 0)
                .factory());
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(config.host(), config.port()))
                .executor(executor)
                .maxInboundMessageSize(MAX_INBOUND_MESSAGE_BYTES)
                .flowControlWindow(FLOW_CONTROL_WINDOW)
                .keepAliveTime(10, TimeUnit.SECONDS)
                .keepAliveTimeout(5, TimeUnit.SECONDS)
                .permitKeepAliveTime(1, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true)
                .addService(new ReplicationService(registry).binding())
                .addService(new AdminService(registry))
                .build();
        try {
            server.start();
        } catch (IOException e) {
            registry.close();
            leases.close();
            executor.shutdownNow();
            throw new IOException("cannot listen on " + config.host() + ":" + config.port() + ": " + e.getMessage(), e);
        }
        LOG.log(System.Logger.Level.INFO, "collector listening on {0}:{1,number,#}, data in {2}, durability {3}",
                config.host(), server.getPort(), config.dataDirectory(), config.durability());
        return new CollectorServer(config, registry, executor, server, leases);
    }

    private static LeaseAuthority leaseAuthority(CollectorConfig config, String collectorId) throws IOException {
        if (config.zookeeper() == null) {
            return new LocalLeases();
        }
        int session = (int) Math.max(4000, config.lease().toMillis() * 2);
        try {
            return new ZooKeeperLeases(config.zookeeper(), "cpstream", collectorId, session, 15_000);
        } catch (LeaseAuthority.LeaseException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    public int port() {
        return server.getPort();
    }

    /** Where every VM this collector protects stands, by name (what the admin API's ListVms returns). */
    public List<VmStatus> vms() {
        return registry.all().stream().map(Standby::status).toList();
    }

    public CollectorConfig config() {
        return config;
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    /** Stops accepting streams, lets running ones finish within the drain window, then cuts them. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        server.shutdown();
        try {
            if (!server.awaitTermination(config.drain().toMillis(), TimeUnit.MILLISECONDS)) {
                server.shutdownNow();
                server.awaitTermination(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        } finally {
            // Let a commit that is running finish: interrupting it would close its files mid-apply (safe,
            // since the next open replays the sealed journal, but needlessly so).
            executor.shutdown();
            try {
                executor.awaitTermination(config.drain().toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            executor.shutdownNow();
            registry.close();
            leases.close();
        }
    }
}
