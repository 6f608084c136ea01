package io.cpstream.agent.failover;

import io.cpstream.agent.FailoverConfig;
import io.cpstream.coordination.CollectorPool;
import io.cpstream.coordination.CoordinationException;
import io.cpstream.coordination.Coordinator;
import io.cpstream.coordination.FencingEpochs;
import io.cpstream.coordination.Primaries;

/**
 * What a primary does about its standby: where it streams ({@link Placement}), and, once it has been without a
 * standby too long, whether it may go on alone. With an authority (ZooKeeper) it may only after winning a raise of
 * the VM's fencing epoch from the one it holds: the old standby's epoch is stale from then on, so it can never be
 * promoted, and a promotion racing with the raise has exactly one winner. Without one, the operator's policy says.
 */
public final class Failover implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(Failover.class.getName());

    /** What an attempt to go on alone came to. */
    public sealed interface Outcome {
        /** The authority raised the fencing epoch to {@code epoch} for this primary: it goes on alone, fenced. */
        record Claimed(long epoch) implements Outcome {
        }

        /** No authority, and the policy is to go on: no fencing epoch raised, the old standby not fenced. */
        record Unfenced() implements Outcome {
        }

        /** Someone else took the VM over (a promotion won): this primary must stop. */
        record Lost(String why) implements Outcome {
        }

        /** Not now: the authority cannot be reached, or the policy is to wait for a standby. */
        record NotNow(String why) implements Outcome {
        }
    }

    private final FailoverConfig config;
    private final Coordinator coordinator;
    private final FencingEpochs fencing;
    private final Primaries primaries;
    private final Placement placement;

    private Failover(FailoverConfig config, Coordinator coordinator, Placement placement) {
        this.config = config;
        this.coordinator = coordinator;
        this.fencing = coordinator == null ? null : new FencingEpochs(coordinator);
        this.primaries = coordinator == null ? null : new Primaries(coordinator);
        this.placement = placement;
    }

    /**
     * Connects to the authority and the pool {@code config} names.
     *
     * @param collector  the fixed collector when {@code config} names no pool
     * @param guestBytes the guest's memory, which a collector of the pool must accept
     * @param ownHost    this agent's host
     */
    public static Failover open(FailoverConfig config, String collector, long guestBytes, String ownHost)
            throws CoordinationException {
        Coordinator coordinator = config.zookeeper() == null ? null
                : Coordinator.connect(config.zookeeper(), 4000, 15_000);
        try {
            Placement placement;
            if (config.pool() == null) {
                placement = new FixedPlacement(collector);
            } else if (config.pool().startsWith("zk:")) {
                placement = new PoolPlacement(new CollectorPool(coordinator), ownHost, guestBytes);
            } else {
                placement = new ListPlacement(config.pool());
            }
            return new Failover(config, coordinator, placement);
        } catch (CoordinationException | RuntimeException e) {
            if (coordinator != null) {
                coordinator.close();
            }
            throw e;
        }
    }

    public Placement placement() {
        return placement;
    }

    /** Whether an authority decides who may act as the primary (as opposed to the operator's policy). */
    public boolean hasAuthority() {
        return fencing != null;
    }

    /** Asks to go on alone, holding {@code fencingEpoch}. */
    public Outcome goOnAlone(String vm, long fencingEpoch) {
        if (fencing == null) {
            return config.withoutAuthority() == FailoverConfig.OnLoss.CONTINUE ? new Outcome.Unfenced()
                    : new Outcome.NotNow("no authority to fence the lost standby, and --on-standby-loss is wait");
        }
        try {
            return new Outcome.Claimed(fencing.raise(vm, fencingEpoch));
        } catch (CoordinationException.Lost e) {
            return new Outcome.Lost(e.getMessage());
        } catch (CoordinationException e) {
            return new Outcome.NotNow("the authority cannot be reached: " + e.getMessage());
        }
    }

    /** Tells whoever looks ({@code cpstream status}) where this primary stands; best effort. */
    public void publish(Primaries.Primary primary) {
        if (primaries == null) {
            return;
        }
        try {
            primaries.publish(primary);
        } catch (CoordinationException e) {
            LOG.log(System.Logger.Level.DEBUG, "vm {0}: publishing where its primary stands: {1}", primary.vm(),
                    e.getMessage());
        }
    }

    @Override
    public void close() {
        placement.close();
        if (coordinator != null) {
            coordinator.close();
        }
    }
}
