package io.cpstream.coordination;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;

/**
 * Where each VM's primary stands, as its agent last said, in an ephemeral {@code /vms/<vm>/primary}: which
 * collector protects it, or that it runs unprotected. It goes with the session that created it, so a primary that
 * died disappears from the view (its successor publishes again, periodically). What {@code cpstream status}
 * shows beside what the collectors hold.
 */
public final class Primaries {

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param agent      the agent's id (host, pid)
     * @param collector  the collector protecting it, or empty while none does
     * @param protectedNow whether a standby holds a recent committed epoch of it (false: running unprotected)
     */
    public record Primary(String vm, String agent, String collector, boolean protectedNow, long fencingEpoch,
                          long updatedUnixMillis) {
    }

    private final Coordinator coordinator;

    public Primaries(Coordinator coordinator) {
        this.coordinator = coordinator;
    }

    /** Publishes where the primary of {@code primary.vm()} stands now. */
    public void publish(Primary primary) throws CoordinationException {
        String path = "/vms/" + primary.vm() + "/primary";
        try {
            byte[] data = JSON.writeValueAsBytes(primary);
            try {
                coordinator.curator().create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(path, data);
            } catch (KeeperException.NodeExistsException e) {
                // Ours from an earlier publish, or an older primary's whose session has not ended yet: the newest says.
                coordinator.curator().setData().forPath(path, data);
            }
        } catch (Exception e) {
            throw new CoordinationException("publishing the primary of vm " + primary.vm() + ": " + e.getMessage(), e);
        }
    }

    /** Every VM whose primary's agent is alive and said where it stands. */
    public List<Primary> all() throws CoordinationException {
        List<Primary> found = new ArrayList<>();
        try {
            if (coordinator.curator().checkExists().forPath("/vms") == null) {
                return found;
            }
            for (String vm : coordinator.curator().getChildren().forPath("/vms")) {
                try {
                    found.add(JSON.readValue(coordinator.curator().getData().forPath("/vms/" + vm + "/primary"),
                            Primary.class));
                } catch (KeeperException.NoNodeException e) {
                    // no live primary announced for this VM
                }
            }
            return found;
        } catch (Exception e) {
            throw new CoordinationException("reading the primaries: " + e.getMessage(), e);
        }
    }
}
