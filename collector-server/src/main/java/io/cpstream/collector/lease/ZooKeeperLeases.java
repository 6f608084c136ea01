package io.cpstream.collector.lease;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.data.Stat;

/**
 * Leases and fencing epochs in Apache ZooKeeper, shared by every collector configured with the same
 * ensemble and namespace. Per VM:
 * <ul>
 *   <li>{@code /vms/<vm>/fencing}: the fencing epoch, a decimal number. Promotion raises it with a
 *       versioned write, so of two concurrent promotions (on any collectors) exactly one succeeds.</li>
 *   <li>{@code /vms/<vm>/lease}: an ephemeral node naming the collector that currently grants the
 *       primary its lease. It lives with that collector's session: if the collector dies or is cut off
 *       from ZooKeeper, the node goes and the primary's lease runs out within one lease time.</li>
 * </ul>
 * A collector grants leases only while its session is connected and the fencing epoch in ZooKeeper
 * is still the primary's, and it hears of a promotion elsewhere through a watch.
 */
public final class ZooKeeperLeases implements LeaseAuthority {

    private static final System.Logger LOG = System.getLogger(ZooKeeperLeases.class.getName());

    private final CuratorFramework client;
    private final String collectorId;
    private final Map<String, LongConsumer> watchers = new ConcurrentHashMap<>();
    private volatile boolean connected;

    /**
     * Connects to {@code connectString} (host:port[,host:port...]) under {@code namespace} and waits up
     * to {@code connectMillis} for the session.
     */
    public ZooKeeperLeases(String connectString, String namespace, String collectorId, int sessionMillis,
                           long connectMillis) throws LeaseException {
        this.collectorId = collectorId;
        this.client = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .namespace(namespace)
                .sessionTimeoutMs(sessionMillis)
                .connectionTimeoutMs((int) Math.min(connectMillis, Integer.MAX_VALUE))
                .retryPolicy(new ExponentialBackoffRetry(100, 5))
                .build();
        client.getConnectionStateListenable().addListener((c, state) -> {
            // Suspended already means "cannot prove we still hold anything": stop granting at once.
            connected = state == ConnectionState.CONNECTED || state == ConnectionState.RECONNECTED;
            if (state == ConnectionState.RECONNECTED) {
                watchers.keySet().forEach(this::rearm);
            }
            LOG.log(System.Logger.Level.INFO, "zookeeper {0}: {1}", connectString, state);
        });
        client.start();
        try {
            if (!client.blockUntilConnected((int) connectMillis, TimeUnit.MILLISECONDS)) {
                client.close();
                throw new LeaseException("cannot reach ZooKeeper at " + connectString + " within " + connectMillis + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            client.close();
            throw new LeaseException("interrupted while connecting to ZooKeeper", e);
        }
        connected = true;
    }

    @Override
    public long fencingEpoch(String vm, long local) throws LeaseException {
        try {
            while (true) {
                Stat stat = new Stat();
                byte[] data;
                try {
                    data = client.getData().storingStatIn(stat).forPath(fencingPath(vm));
                } catch (KeeperException.NoNodeException e) {
                    try {
                        client.create().creatingParentsIfNeeded().forPath(fencingPath(vm), encode(local));
                        return local;
                    } catch (KeeperException.NodeExistsException raced) {
                        continue;
                    }
                }
                long shared = decode(data);
                if (shared >= local) {
                    return shared;
                }
                // This collector saw a higher epoch than ZooKeeper holds (it ran without it before): publish it.
                try {
                    client.setData().withVersion(stat.getVersion()).forPath(fencingPath(vm), encode(local));
                    return local;
                } catch (KeeperException.BadVersionException raced) {
                    // someone changed it meanwhile; read again
                }
            }
        } catch (LeaseException e) {
            throw e;
        } catch (Exception e) {
            throw new LeaseException("reading the fencing epoch of vm " + vm + " from ZooKeeper failed: " + e, e);
        }
    }

    @Override
    public boolean mayGrant(String vm, long fencingEpoch, String holder) {
        if (!connected) {
            return false;
        }
        try {
            if (decode(client.getData().forPath(fencingPath(vm))) != fencingEpoch) {
                return false;
            }
            byte[] owner = (collectorId + " " + fencingEpoch + " " + holder).getBytes(StandardCharsets.UTF_8);
            try {
                client.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(leasePath(vm), owner);
                return true;
            } catch (KeeperException.NodeExistsException e) {
                Stat stat = new Stat();
                byte[] current = client.getData().storingStatIn(stat).forPath(leasePath(vm));
                if (stat.getEphemeralOwner() == client.getZookeeperClient().getZooKeeper().getSessionId()) {
                    if (!new String(current, StandardCharsets.UTF_8).equals(new String(owner, StandardCharsets.UTF_8))) {
                        client.setData().withVersion(stat.getVersion()).forPath(leasePath(vm), owner);
                    }
                    return true;
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
            if (stat != null && stat.getEphemeralOwner() == client.getZookeeperClient().getZooKeeper().getSessionId()) {
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
            Stat stat = client.checkExists().forPath(leasePath(vm));
            return stat != null && stat.getEphemeralOwner() != client.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (Exception e) {
            // Unknown is not "free": refuse to promote on a guess.
            return true;
        }
    }

    @Override
    public long raise(String vm, long expected) throws LeaseException {
        try {
            Stat stat = new Stat();
            long shared;
            try {
                shared = decode(client.getData().storingStatIn(stat).forPath(fencingPath(vm)));
            } catch (KeeperException.NoNodeException e) {
                client.create().creatingParentsIfNeeded().forPath(fencingPath(vm), encode(expected + 1));
                return expected + 1;
            }
            if (shared != expected) {
                throw new LeaseException.Lost("vm " + vm + " has fencing epoch " + shared + " in ZooKeeper, not "
                        + expected + ": another collector promoted it");
            }
            client.setData().withVersion(stat.getVersion()).forPath(fencingPath(vm), encode(expected + 1));
            return expected + 1;
        } catch (KeeperException.BadVersionException | KeeperException.NodeExistsException e) {
            throw new LeaseException.Lost("vm " + vm + ": a concurrent promotion raised the fencing epoch first");
        } catch (LeaseException e) {
            throw e;
        } catch (Exception e) {
            throw new LeaseException("raising the fencing epoch of vm " + vm + " in ZooKeeper failed: " + e, e);
        }
    }

    @Override
    public void watch(String vm, LongConsumer listener) {
        watchers.put(vm, listener);
        rearm(vm);
    }

    private void rearm(String vm) {
        try {
            client.getData().usingWatcher((Watcher) (WatchedEvent event) -> {
                if (event.getType() == Watcher.Event.EventType.NodeDataChanged
                        || event.getType() == Watcher.Event.EventType.NodeCreated) {
                    notifyRaised(vm);
                }
                if (event.getType() != Watcher.Event.EventType.None) {
                    rearm(vm);
                }
            }).forPath(fencingPath(vm));
        } catch (KeeperException.NoNodeException e) {
            try {
                client.checkExists().usingWatcher((Watcher) event -> rearm(vm)).forPath(fencingPath(vm));
            } catch (Exception ignored) {
                // retried on reconnection
            }
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "vm {0}: cannot watch its fencing epoch: {1}", vm, e.toString());
        }
    }

    private void notifyRaised(String vm) {
        LongConsumer listener = watchers.get(vm);
        if (listener == null) {
            return;
        }
        try {
            listener.accept(decode(client.getData().forPath(fencingPath(vm))));
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "vm {0}: reading its raised fencing epoch: {1}", vm, e.toString());
        }
    }

    @Override
    public void close() {
        client.close();
    }

    @Override
    public String toString() {
        return "zookeeper " + client.getZookeeperClient().getCurrentConnectionString();
    }

    private static String fencingPath(String vm) {
        return "/vms/" + vm + "/fencing";
    }

    private static String leasePath(String vm) {
        return "/vms/" + vm + "/lease";
    }

    private static byte[] encode(long epoch) {
        return Long.toString(epoch).getBytes(StandardCharsets.US_ASCII);
    }

    private static long decode(byte[] data) {
        return Long.parseLong(new String(data, StandardCharsets.US_ASCII).trim());
    }
}
