package io.cpstream.cli;

import io.cpstream.agent.output.FencingAuthority;
import io.cpstream.agent.output.ZooKeeperFencing;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.config.HostPort;
import io.cpstream.coordination.CoordinationException;
import io.cpstream.coordination.Coordinator;
import io.cpstream.security.TlsSettings;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * What {@code cpstream sink --authority} names as the judge of a primary's fencing epoch: {@code zk:CONNECT}, the
 * VMs' fencing nodes in ZooKeeper (collectors and agents with {@code --zookeeper}; {@link ZooKeeperFencing}), or
 * {@code HOST:PORT[,...]}, the collectors that protect the VMs, each asked for the epoch it holds (the highest
 * counts). A collector that cannot be asked makes the answer unknown, not lower: a primary re-protected on a
 * collector that is down would otherwise look as if it had made its epoch up.
 */
public final class SinkAuthority implements FencingAuthority, AutoCloseable {

    /** A question to the authority must not hold a primary's write for long: the sink answers "unavailable". */
    private static final long ASK_MILLIS = 2_000;

    private final Coordinator zookeeper;
    private final ZooKeeperFencing fencing;
    private final List<AdminClient> collectors;
    private final String description;

    private SinkAuthority(Coordinator zookeeper, List<AdminClient> collectors, String description) {
        this.zookeeper = zookeeper;
        this.fencing = zookeeper == null ? null : new ZooKeeperFencing(zookeeper, ASK_MILLIS);
        this.collectors = collectors;
        this.description = description;
    }

    public static SinkAuthority open(String spec, TlsSettings tls) {
        if (spec.startsWith("zk:")) {
            try {
                return new SinkAuthority(Coordinator.connect(spec.substring(3), 10_000, 15_000), List.of(),
                        "zookeeper " + spec.substring(3));
            } catch (CoordinationException e) {
                throw new Errors.UserError("--authority: " + e.getMessage());
            }
        }
        List<AdminClient> clients = new ArrayList<>();
        for (String address : spec.split(",")) {
            clients.add(new AdminClient(HostPort.parse(address.trim(), "--authority").target(), tls));
        }
        return new SinkAuthority(null, List.copyOf(clients), "collector" + (clients.size() > 1 ? "s " : " ") + spec);
    }

    @Override
    public long fencingEpoch(String vm) throws IOException {
        if (fencing != null) {
            return fencing.fencingEpoch(vm);
        }
        long highest = -1;
        for (AdminClient collector : collectors) {
            try {
                highest = Math.max(highest, collector.fencingEpoch(vm, ASK_MILLIS));
            } catch (StatusRuntimeException e) {
                throw new IOException(collector + ": " + e.getStatus().getCode() + " "
                        + e.getStatus().getDescription(), e);
            }
        }
        return highest;
    }

    @Override
    public void close() {
        collectors.forEach(AdminClient::close);
        if (fencing != null) {
            fencing.close();
            zookeeper.close();
        }
    }

    @Override
    public String toString() {
        return description;
    }
}
