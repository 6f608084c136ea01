package io.cpstream.cli;

import io.cpstream.collector.client.AdminClient;
import io.cpstream.security.TlsSettings;
import io.cpstream.config.HostPort;
import io.cpstream.coordination.CollectorInfo;
import io.cpstream.coordination.CollectorPool;
import io.cpstream.coordination.CoordinationException;
import io.cpstream.coordination.Coordinator;
import io.cpstream.coordination.Primaries;
import io.cpstream.proto.VmState;
import io.cpstream.proto.VmStatus;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The VMs {@code cpstream status} shows: those of one collector, or of a whole pool of collectors found in
 * ZooKeeper, together with the primaries that run alone there after losing their standby.
 */
interface Fleet extends AutoCloseable {

    /** One VM as one collector holds it, or a primary no collector protects ({@code collector} "-"). */
    record Row(VmStatus vm, String collector) {
        /** A standby of this VM is being fed on this row's collector. */
        boolean replicating() {
            return vm.getState() == VmState.VM_REPLICATING || vm.getState() == VmState.VM_SYNCING;
        }
    }

    List<Row> rows();

    /** What the title says this is. */
    String describe();

    @Override
    void close();

    static Fleet of(String collector, String collectors, TlsSettings tls) {
        if (collectors != null) {
            if (!collectors.startsWith("zk:")) {
                throw new Errors.UserError("--collectors takes zk: and a ZooKeeper connect string, e.g. zk:zk1:2181");
            }
            try {
                return new Pool(Coordinator.connect(collectors.substring(3), 10_000, 10_000), tls);
            } catch (CoordinationException e) {
                throw new Errors.UserError(e.getMessage());
            }
        }
        return new One(HostPort.parse(collector, "--collector").target(), tls);
    }

    /** One collector, asked directly. */
    final class One implements Fleet {
        private final String address;
        private final AdminClient admin;

        One(String address, TlsSettings tls) {
            this.address = address;
            this.admin = new AdminClient(address, tls);
        }

        @Override
        public List<Row> rows() {
            return admin.list().stream().map(vm -> new Row(vm, address)).toList();
        }

        @Override
        public String describe() {
            return "collector " + address;
        }

        @Override
        public void close() {
            admin.close();
        }
    }

    /** Every collector of a pool, and the primaries that said where they stand. */
    final class Pool implements Fleet {
        private final Coordinator coordinator;
        private final CollectorPool pool;
        private final Primaries primaries;
        private final Map<String, AdminClient> admins = new HashMap<>();

        private final TlsSettings tls;

        Pool(Coordinator coordinator, TlsSettings tls) throws CoordinationException {
            this.tls = tls;
            this.coordinator = coordinator;
            this.pool = new CollectorPool(coordinator);
            this.primaries = new Primaries(coordinator);
        }

        @Override
        public List<Row> rows() {
            List<Row> rows = new ArrayList<>();
            try {
                for (CollectorInfo member : pool.members()) {
                    AdminClient admin = admins.computeIfAbsent(member.address(), address -> new AdminClient(address, tls));
                    try {
                        admin.list().forEach(vm -> rows.add(new Row(vm, member.address())));
                    } catch (StatusRuntimeException e) {
                        // gone since it was listed: it leaves the pool by itself
                    }
                }
                Set<String> protectedVms = rows.stream().filter(Row::replicating).map(row -> row.vm().getVmId())
                        .collect(Collectors.toSet());
                for (Primaries.Primary primary : primaries.all()) {
                    if (!primary.protectedNow() && !protectedVms.contains(primary.vm())) {
                        rows.add(new Row(VmStatus.newBuilder().setVmId(primary.vm()).setState(VmState.VM_UNPROTECTED)
                                .setAgentId(primary.agent()).setFencingEpoch(primary.fencingEpoch()).setLagMs(-1)
                                .build(), "-"));
                    }
                }
            } catch (CoordinationException e) {
                throw new Errors.UserError("cannot read the pool from ZooKeeper: " + e.getMessage());
            }
            rows.sort(java.util.Comparator.comparing((Row row) -> row.vm().getVmId()).thenComparing(Row::collector));
            return rows;
        }

        @Override
        public String describe() {
            return "pool of " + coordinator;
        }

        @Override
        public void close() {
            admins.values().forEach(AdminClient::close);
            pool.close();
            coordinator.close();
        }
    }
}
