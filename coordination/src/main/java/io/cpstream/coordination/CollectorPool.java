package io.cpstream.coordination;

import java.util.Collection;
import java.util.List;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceType;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;

/**
 * The collectors of an installation, registered in ZooKeeper (Curator's service discovery recipe, under
 * {@code /collectors}) with their address, host and load. A registration is ephemeral: it goes with the
 * collector's session, so a collector that dies or is cut off from ZooKeeper leaves the pool by itself.
 */
public final class CollectorPool implements AutoCloseable {

    private static final String SERVICE = "collector";

    private final ServiceDiscovery<CollectorInfo> discovery;

    public CollectorPool(Coordinator coordinator) throws CoordinationException {
        this.discovery = ServiceDiscoveryBuilder.builder(CollectorInfo.class)
                .client(coordinator.curator())
                .basePath("/collectors")
                .serializer(new JsonInstanceSerializer<>(CollectorInfo.class))
                .watchInstances(false)
                .build();
        try {
            discovery.start();
        } catch (Exception e) {
            throw new CoordinationException("cannot open the collector pool in ZooKeeper: " + e.getMessage(), e);
        }
    }

    /** A collector's place in the pool, kept up to date with its load until closed. */
    public final class Registration implements AutoCloseable {
        private ServiceInstance<CollectorInfo> instance;

        private Registration(ServiceInstance<CollectorInfo> instance) {
            this.instance = instance;
        }

        /** Publishes the collector's current load. */
        public synchronized void update(CollectorInfo info) throws CoordinationException {
            if (info.equals(instance.getPayload())) {
                return;
            }
            ServiceInstance<CollectorInfo> next = instance(info);
            try {
                discovery.updateService(next);
            } catch (Exception e) {
                throw new CoordinationException("updating collector " + info.id() + " in the pool: " + e.getMessage(), e);
            }
            instance = next;
        }

        @Override
        public synchronized void close() {
            try {
                discovery.unregisterService(instance);
            } catch (Exception e) {
                // ephemeral: it leaves with the session anyway
            }
        }
    }

    /** Adds a collector to the pool. */
    public Registration join(CollectorInfo info) throws CoordinationException {
        ServiceInstance<CollectorInfo> instance = instance(info);
        try {
            discovery.registerService(instance);
        } catch (Exception e) {
            throw new CoordinationException("registering collector " + info.id() + " in the pool: " + e.getMessage(), e);
        }
        return new Registration(instance);
    }

    /** The collectors in the pool now. */
    public List<CollectorInfo> members() throws CoordinationException {
        try {
            Collection<ServiceInstance<CollectorInfo>> instances = discovery.queryForInstances(SERVICE);
            return instances.stream().map(ServiceInstance::getPayload).toList();
        } catch (Exception e) {
            throw new CoordinationException("reading the collector pool: " + e.getMessage(), e);
        }
    }

    private static ServiceInstance<CollectorInfo> instance(CollectorInfo info) {
        try {
            return ServiceInstance.<CollectorInfo>builder().name(SERVICE).id(info.id()).payload(info)
                    .serviceType(ServiceType.DYNAMIC).build();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        try {
            discovery.close();
        } catch (Exception e) {
            // closing the session removes what is left
        }
    }
}
