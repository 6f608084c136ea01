package io.cpstream.collector;

import io.cpstream.collector.lease.LeaseAuthority;
import io.cpstream.collector.store.Durability;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.collector.store.StandbyManifest;
import io.cpstream.snapshot.DurableFiles;
import io.cpstream.proto.Hello;
import io.cpstream.proto.PromoteResponse;
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

    private static final System.Logger LOG = System.getLogger(StandbyRegistry.class.getName());

    static final Pattern VM_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    static final int PROTOCOL_VERSION = 4;
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
    /** Standbys whose directory could not be opened, with why: never replaced behind the operator's back. */
    private final ConcurrentHashMap<String, String> broken = new ConcurrentHashMap<>();

    private StandbyRegistry(CollectorConfig config, String collectorId, MeterRegistry meters, LeaseAuthority leases)
            throws IOException {
        this.leases = leases;
        this.autoPromoter = config.autoPromoteAfter() == null ? null : new AutoPromoter(config.autoPromoteAfter());
        this.vmsDirectory = config.dataDirectory().resolve("vms");
        this.durability = config.durability();
        this.maxGuestBytes = config.maxGuestBytes();
        this.lease = config.lease();
        this.collectorId = collectorId;
        this.meters = meters;
        DurableFiles.createPrivateDirectories(vmsDirectory);
        try (Stream<Path> dirs = Files.list(vmsDirectory)) {
            for (Path dir : dirs.sorted().toList()) {
                String vm = dir.getFileName().toString();
                if (VM_ID.matcher(vm).matches() && ImageStore.exists(dir)) {
                    try {
                        standbys.put(vm, standby(vm, ImageStore.open(dir, durability)));
                    } catch (IOException | RuntimeException e) {
                        // One damaged standby must not keep the others unprotected: the collector starts without it.
                        LOG.log(System.Logger.Level.ERROR, "vm {0}: cannot open its standby in {1}: {2}", vm, dir,
                                e.toString());
                        broken.put(vm, e.getMessage() == null ? e.toString() : e.getMessage());
                    }
                }
            }
        }
        this.keeper = Thread.ofPlatform().daemon().name("standby-keeper").unstarted(this::keepStandbys);
    }

    /** Opens every standby under the data directory and starts the periodic pass over them. */
    static StandbyRegistry open(CollectorConfig config, String collectorId, MeterRegistry meters, LeaseAuthority leases)
            throws IOException {
        StandbyRegistry registry = new StandbyRegistry(config, collectorId, meters, leases);
        registry.keeper.start();
        return registry;
    }

    /**
     * Every 100 ms: tells the authority about leases that ran out (so other collectors may promote
     * without force), and applies the automatic promotion policy if there is one.
     */
    private void keepStandbys() {
        while (!Thread.currentThread().isInterrupted()) {
            for (Standby standby : standbys.values()) {
                standby.leaseRemainingNanos(); // releases a lease that ran out at the authority
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

    private Standby standby(String vm, ImageStore store) {
        return Standby.open(vm, store, vmsDirectory.resolve(vm).resolve("snapshots"), collectorId, lease, leases, meters);
    }

    /** The standby an agent's hello is for, created on first contact. */
    Standby forHello(Hello hello) throws StandbyException {
        HelloLimits.check(hello, maxGuestBytes);
        String vm = hello.getVmId();
        String damage = broken.get(vm);
        if (damage != null) {
            throw StandbyException.precondition("the standby of vm " + vm + " on this collector cannot be opened ("
                    + damage + "); remove " + vmsDirectory.resolve(vm) + " on the collector to start over");
        }
        try {
            return standbys.computeIfAbsent(vm, id -> {
                try {
                    StandbyManifest fresh = StandbyManifest.fresh(id, PAGE_SIZE, hello.getPageCount(),
                            hello.getFencingEpoch(), hello.getSource().getKind(),
                            new HashMap<>(hello.getSource().getParamsMap()));
                    return standby(id, ImageStore.create(vmsDirectory.resolve(id), fresh, durability));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        } catch (java.io.UncheckedIOException e) {
            throw StandbyException.storage("creating the standby of vm " + vm, e.getCause());
        }
    }

    /** The standby of {@code vm}, or null when this collector holds none. */
    Standby find(String vm) {
        return standbys.get(vm);
    }

    Standby existing(String vm) throws StandbyException {
        Standby standby = standbys.get(vm);
        if (standby == null) {
            throw StandbyException.notFound("this collector has no vm '" + vm + "'; known: "
                    + standbys.keySet().stream().sorted().toList());
        }
        return standby;
    }

    PromoteResponse promote(String vm, boolean force) throws StandbyException {
        return existing(vm).promote(force);
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
}
