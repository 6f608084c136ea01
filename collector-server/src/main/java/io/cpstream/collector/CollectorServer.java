package io.cpstream.collector;

import io.cpstream.collector.lease.LeaseAuthority;
import io.cpstream.collector.lease.LocalLeases;
import io.cpstream.collector.lease.ZooKeeperLeases;
import io.cpstream.collector.pool.PoolMembership;
import io.cpstream.collector.store.Durability;
import io.cpstream.coordination.CollectorInfo;
import io.cpstream.coordination.CoordinationException;
import io.cpstream.coordination.Coordinator;
import io.cpstream.proto.ReplicationGrpc;
import io.cpstream.proto.VmStatus;
import io.cpstream.security.PkiException;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.Executor;
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
    /** An agent makes three calls (its stream, its lease, its event log), an operator one at a time: room, but no flood. */
    static final int MAX_CALLS_PER_CONNECTION = 16;
    /** Headers are a few hundred bytes; gRPC's default allows 8 KiB. */
    static final int MAX_HEADER_BYTES = 8 << 10;

    private final CollectorConfig config;
    private final StandbyRegistry registry;
    private final ExecutorService executor;
    private final Server server;
    /** The server's own Netty threads (a custom listening channel needs its groups given too). */
    private EventLoopGroup boss;
    private EventLoopGroup workers;
    private boolean closed;

    private final LeaseAuthority leases;
    /** The ZooKeeper session leases and the pool membership share; null for a lone collector. */
    private final Coordinator coordinator;
    private PoolMembership membership;
    private AuditLog audit;
    private final String advertised;

    private CollectorServer(CollectorConfig config, StandbyRegistry registry, ExecutorService executor,
                            Server server, LeaseAuthority leases, Coordinator coordinator) {
        this.config = config;
        this.registry = registry;
        this.executor = executor;
        this.server = server;
        this.leases = leases;
        this.coordinator = coordinator;
        this.advertised = advertise();
    }

    public static CollectorServer start(CollectorConfig config, MeterRegistry meters) throws IOException {
        String collectorId = config.host() + ":" + config.port() + "/" + ProcessHandle.current().pid();
        Coordinator coordinator = coordinator(config);
        LeaseAuthority leases = coordinator == null ? new LocalLeases() : new ZooKeeperLeases(coordinator, collectorId);
        StandbyRegistry registry;
        AuditLog audit = null;
        SslContext tls;
        try {
            tls = config.tls().insecure() ? null : Tls.grpcServer(TlsMaterial.load(config.tls(), null));
            audit = new AuditLog(config.quotas().auditLog());
            registry = StandbyRegistry.open(config, collectorId, meters, leases);
        } catch (PkiException e) {
            leases.close();
            if (coordinator != null) {
                coordinator.close();
            }
            throw new IOException("TLS: " + e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            if (audit != null) {
                audit.close();
            }
            leases.close();
            if (coordinator != null) {
                coordinator.close();
            }
            throw e;
        }
        ExecutorService executor = Executors.newCachedThreadPool(Thread.ofPlatform().daemon().name("collector-", 0)
                .factory());
        config.tls().warnIfInsecure("collector");
        PeerAuthorization authorization = new PeerAuthorization(config.tls().insecure(), audit);
        CollectorConfig.Connections connections = config.quotas().connections();
        ConnectionLimit limit = new ConnectionLimit(connections.max());
        EventLoopGroup boss = new NioEventLoopGroup(1, Thread.ofPlatform().daemon().name("collector-accept").factory());
        EventLoopGroup workers = new NioEventLoopGroup(0, Thread.ofPlatform().daemon().name("collector-io-", 0)
                .factory());
        Gauge.builder("cpstream.collector.connections", limit, ConnectionLimit::open)
                .description("Connections open (TCP, before TLS)").register(meters);
        FunctionCounter.builder("cpstream.collector.connections.refused", limit, ConnectionLimit::refused)
                .description("Connections closed as accepted because max-connections were open").register(meters);
        // Netty's own direct memory (gRPC's buffers) is not in the JVM's direct buffer pool: shown beside it.
        Gauge.builder("cpstream.collector.netty.direct", () -> Math.max(0,
                        io.grpc.netty.shaded.io.netty.util.internal.PlatformDependent.usedDirectMemory()))
                .baseUnit("bytes").description("Direct memory held by the gRPC transport (Netty)").register(meters);
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(config.host(), config.port()))
                .channelFactory(limit::newChannel)
                .bossEventLoopGroup(boss)
                .workerEventLoopGroup(workers)
                .executor(executor)
                .callExecutor(callExecutors(config.durability()))
                .maxInboundMessageSize(MAX_INBOUND_MESSAGE_BYTES)
                .maxInboundMetadataSize(MAX_HEADER_BYTES)
                .flowControlWindow(FLOW_CONTROL_WINDOW)
                .maxConcurrentCallsPerConnection(MAX_CALLS_PER_CONNECTION)
                .handshakeTimeout(connections.handshake().toMillis(), TimeUnit.MILLISECONDS)
                .maxConnectionIdle(connections.idle().toMillis(), TimeUnit.MILLISECONDS)
                .keepAliveTime(10, TimeUnit.SECONDS)
                .keepAliveTimeout(5, TimeUnit.SECONDS)
                .permitKeepAliveTime(1, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true)
                .addService(ServerInterceptors.intercept(new ReplicationService(registry).binding(), authorization))
                .addService(ServerInterceptors.intercept(new AdminService(registry, audit), authorization));
        if (tls != null) {
            builder.sslContext(tls);
        }
        Server server = builder.build();
        try {
            server.start();
        } catch (IOException e) {
            registry.close();
            audit.close();
            leases.close();
            if (coordinator != null) {
                coordinator.close();
            }
            executor.shutdownNow();
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw new IOException("cannot listen on " + config.host() + ":" + config.port() + ": " + e.getMessage(), e);
        }
        LOG.log(System.Logger.Level.INFO, "collector listening on {0}:{1,number,#} ({4}), data in {2}, durability {3}",
                config.host(), server.getPort(), config.dataDirectory(), config.durability(), config.tls());
        CollectorServer collector = new CollectorServer(config, registry, executor, server, leases, coordinator);
        collector.audit = audit;
        collector.boss = boss;
        collector.workers = workers;
        if (coordinator != null) {
            try {
                // Its own id in the pool: unique even for collectors of one process, and safe as a znode name.
                String poolId = java.util.UUID.randomUUID().toString();
                collector.membership = PoolMembership.join(coordinator, () -> collector.poolInfo(poolId));
            } catch (CoordinationException e) {
                collector.close();
                throw new IOException(e.getMessage(), e);
            }
        }
        return collector;
    }

    /** The session shared by leases and the pool; null without ZooKeeper. */
    private static Coordinator coordinator(CollectorConfig config) throws IOException {
        if (config.zookeeper() == null) {
            return null;
        }
        // A session outlives a lease by a margin: a collector whose session ended has stopped granting long before.
        int session = (int) Math.max(4000, config.lease().toMillis() * 2);
        try {
            return Coordinator.connect(config.zookeeper(), session, 15_000);
        } catch (CoordinationException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** How this collector appears in the pool: where agents reach it, its host, its load. */
    private CollectorInfo poolInfo(String poolId) {
        List<VmStatus> vms = vms();
        long guestBytes = vms.stream().mapToLong(vm -> vm.getPageCount() * vm.getPageSize()).sum();
        return new CollectorInfo(poolId, advertisedAddress(), hostName(), vms.size(), guestBytes,
                config.maxGuestBytes());
    }

    /** Where agents reach this collector: --advertise, else the listen address (this host's name for a wildcard). */
    public String advertisedAddress() {
        return advertised;
    }

    private String advertise() {
        if (config.pool().advertise() != null) {
            return config.pool().advertise().target();
        }
        String host = config.host().isEmpty() || config.host().equals("0.0.0.0") || config.host().equals("::")
                ? hostName() : config.host();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + server.getPort();
    }

    private String hostName() {
        if (!config.pool().hostName().isEmpty()) {
            return config.pool().hostName();
        }
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            return "localhost";
        }
    }

    public int port() {
        return server.getPort();
    }

    /** Where every VM this collector protects stands, by name (what the admin API's ListVms returns). */
    public List<VmStatus> vms() {
        return registry.all().stream().map(Standby::status).toList();
    }

    /** The standbys, for this package's tests. */
    StandbyRegistry registry() {
        return registry;
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
        if (membership != null) {
            membership.close(); // no agent is placed here any more
        }
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
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            if (membership != null) {
                membership.close();
            }
            registry.close();
            try {
                audit.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "closing the audit log: " + e.getMessage());
            }
            leases.close();
            if (coordinator != null) {
                coordinator.close();
            }
        }
    }

    /**
     * Where each call's handlers run: gRPC's pool, except an event log call's when acknowledged chunks are not forced
     * ({@code --durability none}). Those run on the transport thread that read them: an output under record/replay
     * protection waits for the acknowledgement, and the hand-off to a pooled thread was one more wake-up in that wait
     * (bench --compare-protect: acknowledgement p50 0.20 to 0.10 ms, replay's output p99 1.69 to 1.44 ms, together
     * with the agent's side). Such a chunk's handling is short: at most {@link io.cpstream.proto.Limit#MAX_CHUNK_BYTES}
     * appended to the page cache. A forced one waits for the disk, and a transport thread serves other VMs'
     * connections too, so under {@code fsync} the pool keeps one VM's disk from delaying another's stream.
     */
    private static ServerCallExecutorSupplier callExecutors(Durability durability) {
        String eventLog = ReplicationGrpc.getEventLogMethod().getFullMethodName();
        return new ServerCallExecutorSupplier() {
            @Override
            public <ReqT, RespT> Executor getExecutor(ServerCall<ReqT, RespT> call, Metadata headers) {
                boolean onTransport = !durability.durable()
                        && call.getMethodDescriptor().getFullMethodName().equals(eventLog);
                return onTransport ? Runnable::run : null;
            }
        };
    }
}
