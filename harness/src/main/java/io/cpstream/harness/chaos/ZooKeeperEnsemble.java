package io.cpstream.harness.chaos;

import io.cpstream.coordination.CoordinationException;
import io.cpstream.coordination.Coordinator;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A real ZooKeeper ensemble of three servers, each a process of its own (ZooKeeper's QuorumPeerMain from this
 * class path), so that a member can be lost the way a host is: SIGKILL. For the chaos trials of a pool of
 * collectors; nothing to install.
 */
public final class ZooKeeperEnsemble implements AutoCloseable {

    private static final String MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

    private final List<DaemonProcess> servers = new ArrayList<>();
    private final List<Integer> clientPorts = new ArrayList<>();

    /** Starts three servers under {@code work} and waits until the ensemble serves clients. */
    public static ZooKeeperEnsemble start(Path work, int size) throws IOException, InterruptedException {
        ZooKeeperEnsemble ensemble = new ZooKeeperEnsemble();
        try {
            List<int[]> ports = new ArrayList<>();
            for (int i = 0; i < size; i++) {
                ports.add(new int[] {freePort(), freePort(), freePort()});
                ensemble.clientPorts.add(ports.get(i)[0]);
            }
            for (int i = 0; i < size; i++) {
                Path dir = Files.createDirectories(work.resolve("zk-" + (i + 1)));
                Files.writeString(dir.resolve("myid"), Integer.toString(i + 1));
                StringBuilder config = new StringBuilder()
                        .append("tickTime=200\ninitLimit=20\nsyncLimit=10\n")
                        .append("dataDir=").append(dir.toAbsolutePath()).append('\n')
                        .append("clientPort=").append(ports.get(i)[0]).append('\n')
                        .append("clientPortAddress=127.0.0.1\n")
                        .append("admin.enableServer=false\n")
                        .append("maxSessionTimeout=60000\n");
                for (int j = 0; j < size; j++) {
                    config.append("server.").append(j + 1).append("=127.0.0.1:").append(ports.get(j)[1]).append(':')
                            .append(ports.get(j)[2]).append('\n');
                }
                Path file = dir.resolve("zoo.cfg");
                Files.writeString(file, config.toString());
                ensemble.servers.add(DaemonProcess.start(work.resolve("zk-" + (i + 1) + ".log"), MAIN,
                        List.of(file.toAbsolutePath().toString())));
            }
            ensemble.awaitServing();
            return ensemble;
        } catch (IOException | RuntimeException e) {
            ensemble.close();
            throw e;
        }
    }

    /** {@code host:port,...} of every member. */
    public String connectString() {
        return clientPorts.stream().map(port -> "127.0.0.1:" + port).collect(Collectors.joining(","));
    }

    /** Loses member {@code index} (0-based) the way a host dies: SIGKILL. */
    public void kill(int index) throws InterruptedException {
        servers.get(index).kill9();
    }

    public int size() {
        return servers.size();
    }

    private void awaitServing() throws IOException {
        try (Coordinator probe = Coordinator.connect(connectString(), 10_000, 60_000)) {
            probe.sessionId();
        } catch (CoordinationException e) {
            throw new IOException("the ZooKeeper ensemble did not form: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() throws InterruptedException {
        for (DaemonProcess server : servers) {
            server.close();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
