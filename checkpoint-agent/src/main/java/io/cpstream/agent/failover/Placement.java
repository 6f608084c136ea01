package io.cpstream.agent.failover;

/**
 * Where the agent streams its checkpoints: one fixed collector, one of a list, or one of the pool registered in
 * ZooKeeper. Asked again after every lost stream; told when a collector is lost for good, so that the agent is
 * placed elsewhere.
 */
public interface Placement extends AutoCloseable {

    /** A collector: where to reach it, and its id (its address, where nothing better is known). */
    record Target(String address, String id) {
    }

    /** The collector to try now, or null while none is available (the caller waits and asks again). */
    Target next();

    /**
     * Where the agent would go if it lost {@code target} for good now, or null where it cannot move: asked while the
     * agent waits out the standby timeout, to have a connection ready there (nothing more: no standby is built).
     */
    Target successor(Target target);

    /** The agent lost {@code target} for good: place it elsewhere for a while, if there is an elsewhere. */
    void lost(Target target);

    /** Whether there is anywhere else to go (a list or a pool), as opposed to one fixed collector. */
    boolean canMove();

    @Override
    void close();
}
