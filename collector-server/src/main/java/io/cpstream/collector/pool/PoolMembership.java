package io.cpstream.collector.pool;

import io.cpstream.coordination.CollectorInfo;
import io.cpstream.coordination.CollectorPool;
import io.cpstream.coordination.CoordinationException;
import io.cpstream.coordination.Coordinator;
import java.util.function.Supplier;

/**
 * This collector's place in the pool of collectors agents are placed on: joined once it listens, its load
 * published every second while it runs, and left when it stops (or, if it dies, when its ZooKeeper session ends).
 */
public final class PoolMembership implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(PoolMembership.class.getName());

    private final CollectorPool pool;
    private final CollectorPool.Registration registration;
    private final Supplier<CollectorInfo> load;
    private final Thread publisher;

    private PoolMembership(CollectorPool pool, CollectorPool.Registration registration, Supplier<CollectorInfo> load) {
        this.pool = pool;
        this.registration = registration;
        this.load = load;
        this.publisher = Thread.ofPlatform().daemon().name("collector-pool").unstarted(this::publish);
    }

    /** Joins the pool of {@code coordinator} as {@code load} describes this collector, and keeps that up to date. */
    public static PoolMembership join(Coordinator coordinator, Supplier<CollectorInfo> load) throws CoordinationException {
        CollectorPool pool = new CollectorPool(coordinator);
        try {
            CollectorInfo self = load.get();
            PoolMembership membership = new PoolMembership(pool, pool.join(self), load);
            membership.publisher.start();
            LOG.log(System.Logger.Level.INFO, "collector {0} joined the pool as {1} on host {2}", self.id(),
                    self.address(), self.host());
            return membership;
        } catch (CoordinationException | RuntimeException e) {
            pool.close();
            throw e;
        }
    }

    private void publish() {
        while (!Thread.currentThread().isInterrupted()) {
            try {
                Thread.sleep(1000);
                registration.update(load.get());
            } catch (InterruptedException e) {
                return;
            } catch (CoordinationException e) {
                LOG.log(System.Logger.Level.WARNING, "publishing this collector''s load: {0}", e.getMessage());
            }
        }
    }

    @Override
    public void close() {
        publisher.interrupt();
        registration.close();
        pool.close();
    }
}
