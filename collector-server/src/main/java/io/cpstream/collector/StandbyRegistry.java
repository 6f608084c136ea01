package io.cpstream.collector;

import io.cpstream.collector.lease.LeaseAuthority;
import io.cpstream.collector.store.Durability;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.collector.store.StandbyManifest;
import io.cpstream.proto.Hello;
import io.cpstream.proto.PromoteResponse;
import io.grpc.Status;
import io.grpc.StatusException;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Every standby this collector keeps, one directory each under {@code <data-dir>/vms/}. Loads them
 * (finishing interrupted commits) at start, and creates one when an agent says hello for a new VM.
 */
final class StandbyRegistry implements AutoCloseable {

    static final Pattern VM_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    static final int PROTOCOL_VERSION = 1;
    static final int PAGE_SIZE = 4096;

    private final Path vmsDirectory;
    private final Durability durability;
    private final long maxGuestBytes;
    private final Duration lease;
    private final LeaseAuthority leases;
    /** The automatic promotion policy, or null when only an operator promotes. */
    private final AutoPromoter autoPromoter;
    private final Thread keeper;
    private final String collectorId;
    private final MeterRegistry meters;
    private final ConcurrentHashMap<String, Standby> standbys = new ConcurrentHashMap<>();

    StandbyRegistry(CollectorConfig config, String collectorId, MeterRegistry meters, LeaseAuthority leases)
            throws IOException {
        this.leases = leases;
        this.autoPromoter = config.autoPromoteAfter() == null ? null : new AutoPromoter(config.autoPromoteAfter());
        this.vmsDirectory = config.dataDirectory().resolve("vms");
        this.durability = config.durability();
        this.maxGuestBytes = config.maxGuestBytes();
        this.lease = config.lease();
        this.collectorId = collectorId;
        this.meters = meters;
        Files.createDirectories(vmsDirectory);
        try (Stream<Path> dirs = Files.list(vmsDirectory)) {
            for (Path dir : dirs.sorted().toList()) {
                String vm = dir.getFileName().toString();
                if (VM_ID.matcher(vm).matches() && ImageStore.exists(dir)) {
                    standbys.put(vm, new Standby(vm, ImageStore.open(dir, durability), collectorId, lease, leases, meters));
                }
            }
        }
        this.keeper = Thread.ofPlatform().daemon().name("standby-keeper").start(this::keepStandbys);
    }

    /**
     * Every 100 ms: tells the authority about leases that ran out (so other collectors may promote
     * without force), and applies the automatic promotion policy if there is one.
     */
    private void keepStandbys() {
        while (!Thread.currentThread().isInterrupted()) {
            for (Standby standby : standbys.values()) {
                standby.expireLease();
                if (autoPromoter != null) {
                    autoPromoter.consider(this, standby);
                }
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** The standby an agent's hello is for, created on first contact. */
    Standby forHello(Hello hello) throws StatusException {
        if (hello.getProtocolVersion() != PROTOCOL_VERSION) {
            throw invalid("protocol version " + hello.getProtocolVersion() + " is not supported; this collector speaks "
                    + PROTOCOL_VERSION);
        }
        String vm = hello.getVmId();
        if (!VM_ID.matcher(vm).matches()) {
            throw invalid("vm id '" + vm + "' is not 1-64 characters of letters, digits, '.', '_' or '-'");
        }
        if (hello.getPageSize() != PAGE_SIZE) {
            throw invalid("page size " + hello.getPageSize() + " is not supported; use " + PAGE_SIZE);
        }
        if (hello.getPageCount() < 1 || hello.getPageCount() > Integer.MAX_VALUE
                || hello.getPageCount() > maxGuestBytes / PAGE_SIZE) {
            throw invalid("guest of " + hello.getPageCount() + " pages is outside what this collector accepts (1 to "
                    + Math.min(Integer.MAX_VALUE, maxGuestBytes / PAGE_SIZE) + " pages; see --max-guest-bytes)");
        }
        try {
            return standbys.computeIfAbsent(vm, id -> {
                try {
                    StandbyManifest fresh = StandbyManifest.fresh(id, PAGE_SIZE, hello.getPageCount(),
                            hello.getFencingEpoch(), hello.getSource().getKind(),
                            new HashMap<>(hello.getSource().getParamsMap()));
                    return new Standby(id, ImageStore.create(vmsDirectory.resolve(id), fresh, durability),
                            collectorId, lease, leases, meters);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        } catch (java.io.UncheckedIOException e) {
            throw Status.INTERNAL.withDescription("cannot create the standby of vm " + vm + ": "
                    + e.getCause().getMessage()).asException();
        }
    }

    Standby existing(String vm) throws StatusException {
        Standby standby = standbys.get(vm);
        if (standby == null) {
            throw Status.NOT_FOUND.withDescription("this collector has no vm '" + vm + "'; known: "
                    + standbys.keySet().stream().sorted().toList()).asException();
        }
        return standby;
    }

    PromoteResponse promote(String vm, boolean force) throws StatusException {
        return existing(vm).promote(vmsDirectory.resolve(vm).resolve("snapshots"), force);
    }

    Collection<Standby> all() {
        List<String> names = new ArrayList<>(standbys.keySet());
        names.sort(Comparator.naturalOrder());
        return names.stream().map(standbys::get).toList();
    }

    @Override
    public void close() {
        keeper.interrupt();
        standbys.values().forEach(Standby::close);
        standbys.clear();
    }

    private static StatusException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asException();
    }
}
