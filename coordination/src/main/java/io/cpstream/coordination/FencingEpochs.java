package io.cpstream.coordination;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongConsumer;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.data.Stat;

/**
 * The fencing epoch of each VM, in {@code /vms/<vm>/fencing} (a decimal number). Whoever takes over a VM's
 * primary role raises it by one with a versioned write from the epoch it knows: a promotion on any collector, or a
 * primary that lost its standby and goes on alone. Of any number of such raises from one epoch exactly one
 * succeeds, and everyone holding the old epoch is fenced from then on (invariant I3).
 */
public final class FencingEpochs {

    private static final System.Logger LOG = System.getLogger(FencingEpochs.class.getName());

    private final Coordinator coordinator;
    private final Map<String, LongConsumer> watchers = new ConcurrentHashMap<>();

    public FencingEpochs(Coordinator coordinator) {
        this.coordinator = coordinator;
        coordinator.onReconnected(() -> watchers.keySet().forEach(this::rearm));
    }

    /**
     * The fencing epoch of {@code vm} in ZooKeeper, given the caller's own record {@code local}: created as
     * {@code local} when absent, and raised to {@code local} when the caller saw a higher one (it ran without
     * ZooKeeper before).
     */
    public long read(String vm, long local) throws CoordinationException {
        try {
            while (true) {
                Stat stat = new Stat();
                byte[] data;
                try {
                    data = coordinator.curator().getData().storingStatIn(stat).forPath(path(vm));
                } catch (KeeperException.NoNodeException e) {
                    try {
                        coordinator.curator().create().creatingParentsIfNeeded().forPath(path(vm), encode(local));
                        return local;
                    } catch (KeeperException.NodeExistsException raced) {
                        continue;
                    }
                }
                long shared = decode(data);
                if (shared >= local) {
                    return shared;
                }
                try {
                    coordinator.curator().setData().withVersion(stat.getVersion()).forPath(path(vm), encode(local));
                    return local;
                } catch (KeeperException.BadVersionException raced) {
                    // someone changed it meanwhile; read again
                }
            }
        } catch (Exception e) {
            throw new CoordinationException("reading the fencing epoch of vm " + vm + " from ZooKeeper failed: " + e, e);
        }
    }

    /** The fencing epoch of {@code vm} as ZooKeeper holds it now, or -1 when it holds none. */
    public long current(String vm) throws CoordinationException {
        try {
            return decode(coordinator.curator().getData().forPath(path(vm)));
        } catch (KeeperException.NoNodeException e) {
            return -1;
        } catch (Exception e) {
            throw new CoordinationException("reading the fencing epoch of vm " + vm + " from ZooKeeper failed: " + e, e);
        }
    }

    /**
     * Raises the fencing epoch of {@code vm} from {@code expected} to {@code expected + 1}, atomically, and
     * returns the new epoch.
     *
     * @throws CoordinationException.Lost when the epoch is no longer {@code expected}: someone else raised it
     */
    public long raise(String vm, long expected) throws CoordinationException {
        if (expected == Long.MAX_VALUE) {
            throw new CoordinationException("vm " + vm + ": fencing epoch " + expected + " cannot be raised");
        }
        try {
            Stat stat = new Stat();
            long shared;
            try {
                shared = decode(coordinator.curator().getData().storingStatIn(stat).forPath(path(vm)));
            } catch (KeeperException.NoNodeException e) {
                coordinator.curator().create().creatingParentsIfNeeded().forPath(path(vm), encode(expected + 1));
                return expected + 1;
            }
            if (shared != expected) {
                throw new CoordinationException.Lost("vm " + vm + " has fencing epoch " + shared + " in ZooKeeper, not "
                        + expected + ": it was taken over meanwhile (a promotion, or a primary going on alone)");
            }
            coordinator.curator().setData().withVersion(stat.getVersion()).forPath(path(vm), encode(expected + 1));
            return expected + 1;
        } catch (KeeperException.BadVersionException | KeeperException.NodeExistsException e) {
            throw new CoordinationException.Lost("vm " + vm + ": a concurrent take-over raised the fencing epoch first");
        } catch (CoordinationException e) {
            throw e;
        } catch (Exception e) {
            throw new CoordinationException("raising the fencing epoch of vm " + vm + " in ZooKeeper failed: " + e, e);
        }
    }

    /** Calls {@code listener} with the new epoch whenever {@code vm}'s fencing epoch changes. */
    public void watch(String vm, LongConsumer listener) {
        watchers.put(vm, listener);
        rearm(vm);
    }

    private void rearm(String vm) {
        try {
            coordinator.curator().getData().usingWatcher((Watcher) (WatchedEvent event) -> {
                if (event.getType() == Watcher.Event.EventType.NodeDataChanged
                        || event.getType() == Watcher.Event.EventType.NodeCreated) {
                    notifyChanged(vm);
                }
                if (event.getType() != Watcher.Event.EventType.None) {
                    rearm(vm);
                }
            }).forPath(path(vm));
        } catch (KeeperException.NoNodeException e) {
            try {
                coordinator.curator().checkExists().usingWatcher((Watcher) event -> rearm(vm)).forPath(path(vm));
            } catch (Exception ignored) {
                // set again on reconnection
            }
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "vm {0}: cannot watch its fencing epoch: {1}", vm, e.toString());
        }
    }

    private void notifyChanged(String vm) {
        LongConsumer listener = watchers.get(vm);
        if (listener == null) {
            return;
        }
        try {
            listener.accept(decode(coordinator.curator().getData().forPath(path(vm))));
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "vm {0}: reading its raised fencing epoch: {1}", vm, e.toString());
        }
    }

    static String path(String vm) {
        return "/vms/" + vm + "/fencing";
    }

    private static byte[] encode(long epoch) {
        return Long.toString(epoch).getBytes(StandardCharsets.US_ASCII);
    }

    private static long decode(byte[] data) {
        return Long.parseLong(new String(data, StandardCharsets.US_ASCII).trim());
    }
}
