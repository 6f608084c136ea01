package io.cpstream.agent.failover;

import io.cpstream.coordination.CollectorInfo;
import io.cpstream.coordination.CollectorPool;
import io.cpstream.coordination.CoordinationException;
import java.util.concurrent.TimeUnit;

/**
 * The pool of collectors registered in ZooKeeper: the least loaded that takes a guest this size, never one of
 * the agent's own host, and not one it lost in the last minute.
 */
final class PoolPlacement implements Placement {

    private static final System.Logger LOG = System.getLogger(PoolPlacement.class.getName());

    private final CollectorPool pool;
    private final String ownHost;
    private final long guestBytes;
    private final AvoidList avoid = new AvoidList(TimeUnit.SECONDS.toNanos(60));

    PoolPlacement(CollectorPool pool, String ownHost, long guestBytes) {
        this.pool = pool;
        this.ownHost = ownHost;
        this.guestBytes = guestBytes;
    }

    @Override
    public Target next() {
        try {
            return CollectorInfo.choose(pool.members(), ownHost, avoid.current(), guestBytes)
                    .map(chosen -> new Target(chosen.address(), chosen.id()))
                    .orElse(null);
        } catch (CoordinationException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot read the pool of collectors: {0}", e.getMessage());
            return null;
        }
    }

    @Override
    public void lost(Target target) {
        avoid.add(target.id());
    }

    @Override
    public boolean canMove() {
        return true;
    }

    @Override
    public void close() {
        pool.close();
    }

    @Override
    public String toString() {
        return "the pool of collectors";
    }
}
