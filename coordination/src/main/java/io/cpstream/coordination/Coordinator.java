package io.cpstream.coordination;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;

/**
 * One session with the ZooKeeper ensemble that agents and collectors of one installation share, under the
 * namespace {@value #NAMESPACE}: the fencing epochs of the VMs ({@link FencingEpochs}), the pool of collectors
 * ({@link CollectorPool}) and where each VM's primary stands ({@link Primaries}).
 */
public final class Coordinator implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(Coordinator.class.getName());
    public static final String NAMESPACE = "cpstream";

    private final CuratorFramework curator;
    private final String connectString;
    private final List<Runnable> onReconnected = new CopyOnWriteArrayList<>();
    private volatile boolean connected;

    private Coordinator(CuratorFramework curator, String connectString) {
        this.curator = curator;
        this.connectString = connectString;
    }

    /**
     * Connects to {@code connectString} ({@code host:port[,host:port...]}) and waits up to {@code connectMillis}
     * for the session. A session ends after {@code sessionMillis} without contact: what it holds (ephemeral
     * nodes: a lease, a registration) goes with it.
     */
    public static Coordinator connect(String connectString, int sessionMillis, long connectMillis)
            throws CoordinationException {
        CuratorFramework curator = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .namespace(NAMESPACE)
                .sessionTimeoutMs(sessionMillis)
                .connectionTimeoutMs((int) Math.min(connectMillis, Integer.MAX_VALUE))
                .retryPolicy(new ExponentialBackoffRetry(100, 5))
                .build();
        Coordinator coordinator = new Coordinator(curator, connectString);
        curator.getConnectionStateListenable().addListener((c, state) -> coordinator.changed(state));
        curator.start();
        try {
            if (!curator.blockUntilConnected((int) connectMillis, TimeUnit.MILLISECONDS)) {
                curator.close();
                throw new CoordinationException("cannot reach ZooKeeper at " + connectString + " within " + connectMillis
                        + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            curator.close();
            throw new CoordinationException("interrupted while connecting to ZooKeeper", e);
        }
        coordinator.connected = true;
        return coordinator;
    }

    private void changed(ConnectionState state) {
        // Suspended already means "cannot prove we still hold anything".
        connected = state == ConnectionState.CONNECTED || state == ConnectionState.RECONNECTED;
        LOG.log(System.Logger.Level.INFO, "zookeeper {0}: {1}", connectString, state);
        if (state == ConnectionState.RECONNECTED) {
            onReconnected.forEach(Runnable::run);
        }
    }

    public CuratorFramework curator() {
        return curator;
    }

    /** True while the session is known to be live; false from the moment it is suspended. */
    public boolean connected() {
        return connected;
    }

    /** This session's id: what owns the ephemeral nodes it created. */
    public long sessionId() throws CoordinationException {
        try {
            return curator.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (Exception e) {
            throw new CoordinationException("no ZooKeeper session: " + e.getMessage(), e);
        }
    }

    /** Runs {@code action} each time the session reconnects (watches must be set again). */
    public void onReconnected(Runnable action) {
        onReconnected.add(action);
    }

    @Override
    public void close() {
        curator.close();
    }

    @Override
    public String toString() {
        return "zookeeper " + connectString;
    }
}
