package io.cpstream.agent.failover;

import io.cpstream.coordination.CollectorInfo;
import io.cpstream.coordination.CollectorPool;
import io.cpstream.coordination.CoordinationException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The pool of collectors registered in ZooKeeper: the least loaded that takes a guest this size, never one of
 * the agent's own host, and not one it lost in the last minute. Sticky: after a broken stream the agent goes back to
 * the collector it had while that one is in the pool; it moves only once it has lost it for good (gone on alone, the
 * old standby fenced), so that no second standby of the VM is built while the first one can still be promoted.
 */
final class PoolPlacement implements Placement {

    private static final System.Logger LOG = System.getLogger(PoolPlacement.class.getName());

    private final CollectorPool pool;
    private final String ownHost;
    private final long guestBytes;
    private final AvoidList avoid = new AvoidList(TimeUnit.SECONDS.toNanos(60));
    private volatile Target current;

    PoolPlacement(CollectorPool pool, String ownHost, long guestBytes) {
        this.pool = pool;
        this.ownHost = ownHost;
        this.guestBytes = guestBytes;
    }

    @Override
    public Target next() {
        try {
            List<CollectorInfo> members = pool.members();
            Target sticky = current;
            if (sticky != null && !avoid.current().contains(sticky.id())
                    && members.stream().anyMatch(member -> member.id().equals(sticky.id()))) {
                return sticky;
            }
            current = choose(members, avoid.current());
            return current;
        } catch (CoordinationException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot read the pool of collectors: {0}", e.getMessage());
            return null;
        }
    }

    /** The least loaded of {@code members} that takes this guest, not on this host, none of {@code avoided}. */
    private Target choose(List<CollectorInfo> members, java.util.Set<String> avoided) {
        return CollectorInfo.choose(members, ownHost, avoided, guestBytes)
                .map(chosen -> new Target(chosen.address(), chosen.id())).orElse(null);
    }

    @Override
    public Target successor(Target target) {
        try {
            java.util.Set<String> avoided = new java.util.HashSet<>(avoid.current());
            avoided.add(target.id());
            return choose(pool.members(), avoided);
        } catch (CoordinationException e) {
            return null; // only a head start is lost: next() reads the pool again when it is needed
        }
    }

    @Override
    public void lost(Target target) {
        avoid.add(target.id());
        current = null;
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
