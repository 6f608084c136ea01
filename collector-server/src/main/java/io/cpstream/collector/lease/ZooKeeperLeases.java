package io.cpstream.collector.lease;

import io.cpstream.coordination.CoordinationException;
import io.cpstream.coordination.Coordinator;
import io.cpstream.coordination.FencingEpochs;
import java.nio.charset.StandardCharsets;
import java.util.function.LongConsumer;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

/**
 * Leases and fencing epochs in Apache ZooKeeper, shared by every collector configured with the same
 * ensemble and namespace. Per VM:
 * <ul>
 *   <li>{@code /vms/<vm>/fencing}: the fencing epoch ({@link FencingEpochs}). A promotion raises it with a
 *       versioned write, so of two concurrent take-overs (promotions on any collectors, or the primary going on
 *       alone after losing its standby) exactly one succeeds.</li>
 *   <li>{@code /vms/<vm>/lease}: an ephemeral node naming the collector that currently grants the
 *       primary its lease. It lives with that collector's session: if the collector dies or is cut off
 *       from ZooKeeper, the node goes and the primary's lease runs out within one lease time.</li>
 * </ul>
 * A collector grants leases only while its session is connected and the fencing epoch in ZooKeeper
 * is still the primary's, and it hears of a promotion elsewhere through a watch.
 */
public final class ZooKeeperLeases implements LeaseAuthority {

    private static final System.Logger LOG = System.getLogger(ZooKeeperLeases.class.getName());

    private final Coordinator coordinator;
    private final CuratorFramework client;
    private final FencingEpochs fencing;
    private final String collectorId;

    /** Leases over {@code coordinator}'s session, which the caller opened and closes. */
    public ZooKeeperLeases(Coordinator coordinator, String collectorId) {
        this.coordinator = coordinator;
        this.client = coordinator.curator();
        this.fencing = new FencingEpochs(coordinator);
        this.collectorId = collectorId;
    }

    @Override
    public long fencingEpoch(String vm, long local) throws CoordinationException {
        return fencing.read(vm, local);
    }

    @Override
    public boolean mayGrant(String vm, long fencingEpoch, String holder) {
        if (!coordinator.connected()) {
            return false;
        }
        try {
            if (fencing.current(vm) != fencingEpoch) {
                return false;
            }
            byte[] owner = (collectorId + " " + fencingEpoch + " " + holder).getBytes(StandardCharsets.UTF_8);
            try {
                client.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(leasePath(vm), owner);
                return true;
            } catch (KeeperException.NodeExistsException e) {
                Stat stat = new Stat();
                byte[] current = client.getData().storingStatIn(stat).forPath(leasePath(vm));
                if (stat.getEphemeralOwner() == coordinator.sessionId()) {
                    if (!new String(current, StandardCharsets.UTF_8).equals(new String(owner, StandardCharsets.UTF_8))) {
                        client.setData().withVersion(stat.getVersion()).forPath(leasePath(vm), owner);
                    }
                    return true;
                }
                if (leaseEpoch(current) < fencingEpoch) {
                    // A lease granted under an older fencing epoch is void (its primary was fenced or moved on), even
                    // while the session of the collector that granted it (dead, perhaps) has not ended yet.
                    client.delete().withVersion(stat.getVersion()).forPath(leasePath(vm));
                    return mayGrant(vm, fencingEpoch, holder);
                }
                return false; // another collector grants this VM's lease
            }
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "vm {0}: cannot confirm the lease in ZooKeeper: {1}", vm, e.toString());
            return false;
        }
    }

    @Override
    public void released(String vm) {
        try {
            Stat stat = client.checkExists().forPath(leasePath(vm));
            if (stat != null && stat.getEphemeralOwner() == coordinator.sessionId()) {
                client.delete().withVersion(stat.getVersion()).forPath(leasePath(vm));
            }
        } catch (Exception e) {
            // The node is ephemeral: at worst it goes with our session.
            LOG.log(System.Logger.Level.DEBUG, "vm {0}: releasing the lease node: {1}", vm, e.toString());
        }
    }

    @Override
    public boolean heldElsewhere(String vm) {
        try {
            Stat stat = new Stat();
            byte[] current;
            try {
                current = client.getData().storingStatIn(stat).forPath(leasePath(vm));
            } catch (KeeperException.NoNodeException e) {
                return false;
            }
            // A lease of an older fencing epoch is void: its primary was fenced or moved on.
            return stat.getEphemeralOwner() != coordinator.sessionId() && leaseEpoch(current) >= fencing.current(vm);
        } catch (Exception e) {
            // Unknown is not "free": refuse to promote on a guess.
            return true;
        }
    }

    @Override
    public long raise(String vm, long expected) throws CoordinationException {
        return fencing.raise(vm, expected);
    }

    @Override
    public void watch(String vm, LongConsumer listener) {
        fencing.watch(vm, listener);
    }

    @Override
    public void close() {
        // the session belongs to the coordinator, which the collector closes
    }

    @Override
    public String toString() {
        return coordinator.toString();
    }

    /** The fencing epoch a lease node was granted under ("collector epoch holder"); -1 if unreadable. */
    private static long leaseEpoch(byte[] data) {
        String[] fields = new String(data, StandardCharsets.UTF_8).split(" ");
        try {
            return fields.length >= 2 ? Long.parseLong(fields[1]) : -1;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static String leasePath(String vm) {
        return "/vms/" + vm + "/lease";
    }
}
