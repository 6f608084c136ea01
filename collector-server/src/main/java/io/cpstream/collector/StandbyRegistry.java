package io.cpstream.collector;

import io.cpstream.security.ClientText;
import io.cpstream.collector.lease.LeaseAuthority;
import io.cpstream.collector.store.Durability;
import io.cpstream.collector.store.JournalBuffers;
import io.cpstream.collector.store.SharedPages;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.collector.store.StandbyManifest;
import io.cpstream.snapshot.DurableFiles;
import io.cpstream.proto.DeleteVmResponse;
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
    static final int PROTOCOL_VERSION = 8;
    static final int PAGE_SIZE = 4096;
    /** How long a VM waits for a journal buffer before that message fails (its agent resends). */
    static final Duration JOURNAL_BUFFER_WAIT = Duration.ofSeconds(30);

    private final Path vmsDirectory;
    private final Durability durability;
    private final long maxGuestBytes;
    private final CollectorConfig.Quotas quotas;
    /** The content-addressed store identical pages of all standbys are held in once; null when never used. */
    private final SharedPages sharedPages;
    /** The direct buffers every standby's journal borrows from: the journals' direct memory, whatever the VMs. */
    private final JournalBuffers journalBuffers;
    /** Held while a standby is created or deleted, so the quotas hold across concurrent Hellos. */
    private final Object membership = new Object();
    private final Duration lease;
    private final LeaseAuthority leases;
    /** The automatic promotion policy, or null when only an operator promotes. */
    private final AutoPromoter autoPromoter;
    private final Thread keeper;
    private final String collectorId;
    private final MeterRegistry meters;
    private final ConcurrentHashMap<String, Standby> standbys = new ConcurrentHashMap<>();
    /** The lockstep secondaries all standbys share. */
    private final LockstepPool lockstepPool;
    /** Standbys whose directory could not be opened, with why: never replaced behind the operator's back. */
    private final ConcurrentHashMap<String, String> broken = new ConcurrentHashMap<>();

    private StandbyRegistry(CollectorConfig config, String collectorId, MeterRegistry meters, LeaseAuthority leases)
            throws IOException {
        this.leases = leases;
        this.autoPromoter = config.autoPromoteAfter() == null ? null : new AutoPromoter(config.autoPromoteAfter());
        this.vmsDirectory = config.dataDirectory().resolve("vms");
        this.durability = config.durability();
        this.maxGuestBytes = config.maxGuestBytes();
        this.quotas = config.quotas();
        this.journalBuffers = new JournalBuffers(quotas.journalBuffers(), JOURNAL_BUFFER_WAIT);
        io.micrometer.core.instrument.Gauge.builder("cpstream.collector.journal.buffers.direct.bytes", journalBuffers,
                        JournalBuffers::directBytes)
                .description("Direct memory held by the journal buffers all VMs share (at most journal-buffers MiB)")
                .register(meters);
        io.micrometer.core.instrument.Gauge.builder("cpstream.collector.journal.buffers.in.use", journalBuffers,
                        JournalBuffers::inUse)
                .description("Journal buffers borrowed by a VM staging, sealing or applying right now")
                .register(meters);
        this.lease = config.lease();
        this.lockstepPool = new LockstepPool(config.lockstep());
        this.collectorId = collectorId;
        this.meters = meters;
        DurableFiles.createPrivateDirectories(vmsDirectory);
        List<Path> dirs;
        try (Stream<Path> listed = Files.list(vmsDirectory)) {
            dirs = listed.sorted().filter(dir -> VM_ID.matcher(dir.getFileName().toString()).matches()
                    && ImageStore.exists(dir)).toList();
        }
        this.sharedPages = openSharedPages(config, dirs);
        for (Path dir : dirs) {
            String vm = dir.getFileName().toString();
            try {
                standbys.put(vm, standby(vm, ImageStore.open(dir, durability, journalBuffers, sharedPages)));
            } catch (IOException | RuntimeException e) {
                // One damaged standby must not keep the others unprotected: the collector starts without it.
                LOG.log(System.Logger.Level.ERROR, "vm {0}: cannot open its standby in {1}: {2}", vm, dir,
                        e.toString());
                broken.put(vm, e.getMessage() == null ? e.toString() : e.getMessage());
            }
        }
        this.keeper = Thread.ofPlatform().daemon().name("standby-keeper").unstarted(this::keepStandbys);
    }

    JournalBuffers journalBuffers() {
        return journalBuffers;
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
        return Standby.open(vm, store, vmsDirectory.resolve(vm).resolve("snapshots"), collectorId, lease, leases, meters,
                lockstepPool);
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
        Standby known = standbys.get(vm);
        if (known != null) {
            return known;
        }
        synchronized (membership) {
            known = standbys.get(vm);
            if (known != null) {
                return known;
            }
            requireRoomFor(vm, hello.getPageCount() * PAGE_SIZE);
            try {
                StandbyManifest fresh = StandbyManifest.fresh(vm, PAGE_SIZE, hello.getPageCount(),
                        hello.getFencingEpoch(), hello.getSource().getKind(),
                        new HashMap<>(hello.getSource().getParamsMap()));
                Standby created = standby(vm, ImageStore.create(vmsDirectory.resolve(vm), fresh, durability,
                        journalBuffers, sharedPages));
                standbys.put(vm, created);
                return created;
            } catch (IOException e) {
                throw StandbyException.storage("creating the standby of vm " + vm, e);
            }
        }
    }

    /** A new standby of {@code guestBytes} fits this collector's quotas (I7), or is refused with what to change. */
    private void requireRoomFor(String vm, long guestBytes) throws StandbyException {
        int held = standbys.size() + broken.size();
        if (held >= quotas.maxVms()) {
            throw StandbyException.exhausted("vm " + vm + " refused: this collector holds " + held + " VMs, its limit "
                    + "(--max-vms " + quotas.maxVms() + "); delete one or raise the limit");
        }
        long total = 0;
        for (Standby standby : standbys.values()) {
            total += standby.guestBytes();
        }
        if (total + guestBytes > quotas.maxTotalGuestBytes()) {
            throw StandbyException.exhausted("vm " + vm + " refused: its " + guestBytes + " bytes of guest would take "
                    + "this collector's guests to " + (total + guestBytes) + " bytes, above --max-total-guest-bytes "
                    + quotas.maxTotalGuestBytes());
        }
    }

    /**
     * Deletes {@code vm}'s standby and its snapshots (see {@link Standby#retire}); a standby that could not be
     * opened is deleted too. Its name is free for a new Hello afterwards.
     */
    DeleteVmResponse delete(String vm, boolean force) throws StandbyException {
        synchronized (membership) {
            Path directory = vmsDirectory.resolve(vm);
            Standby standby = standbys.get(vm);
            long committed = 0;
            if (standby != null) {
                committed = standby.retire(force);
            } else if (broken.get(vm) == null) {
                throw unknown(vm);
            }
            try {
                if (sharedPages != null) {
                    try {
                        ImageStore.unpinShared(directory, sharedPages);
                    } catch (IOException | RuntimeException e) {
                        // Its slots stay counted until the next start, which counts from the maps that remain.
                        LOG.log(System.Logger.Level.WARNING, "vm {0}: its shared pages could not be released: {1}", vm,
                                e.toString());
                    }
                }
                if (Files.exists(directory)) {
                    DurableFiles.deleteRecursively(directory);
                }
            } catch (IOException e) {
                throw StandbyException.storage("deleting " + directory, e);
            } finally {
                if (standby != null) {
                    standbys.remove(vm, standby);
                    leases.released(vm);
                    // Its meters go with it: a VM of the same name later starts its own.
                    meters.getMeters().stream().filter(meter -> vm.equals(meter.getId().getTag("vm"))).toList()
                            .forEach(meters::remove);
                }
            }
            broken.remove(vm);
            return DeleteVmResponse.newBuilder().setVmId(vm).setCommittedEpoch(committed).build();
        }
    }

    private StandbyException unknown(String vm) {
        return StandbyException.notFound("this collector has no vm " + ClientText.quote(vm));
    }

    /** The standby of {@code vm}, or null when this collector holds none. */
    Standby find(String vm) {
        return standbys.get(vm);
    }

    Standby existing(String vm) throws StandbyException {
        Standby standby = standbys.get(vm);
        if (standby == null || standby.retired()) {
            throw unknown(vm);
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
        if (sharedPages != null) {
            try {
                sharedPages.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "closing the shared page store: {0}", e.toString());
            }
        }
    }

    /**
     * Opens the shared page store when sharing is on or a standby may hold pages there, and counts every standby's
     * references (also those of standbys that will not open) before any standby replays its journal.
     */
    private SharedPages openSharedPages(CollectorConfig config, List<Path> dirs) throws IOException {
        Path directory = config.dataDirectory().resolve("shared");
        if (!config.quotas().pageSharing() && !Files.exists(directory.resolve("pages.bin"))) {
            return null;
        }
        long capacity = Math.max(config.quotas().maxTotalGuestBytes() / PAGE_SIZE, 1);
        if (Files.exists(directory.resolve("pages.bin"))) {
            capacity = Math.max(capacity, Files.size(directory.resolve("pages.bin")) / PAGE_SIZE);
        }
        SharedPages shared = SharedPages.open(directory, PAGE_SIZE, Math.min(capacity, Integer.MAX_VALUE - 8),
                config.quotas().pageSharing());
        for (Path dir : dirs) {
            try {
                ImageStore.pinShared(dir, shared);
            } catch (IOException | RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "cannot count the shared pages of {0}: {1}", dir, e.toString());
            }
        }
        shared.pinned();
        io.micrometer.core.instrument.Gauge.builder("cpstream.collector.shared.slots", shared, SharedPages::slotsInUse)
                .description("Pages stored in the shared page store (each once)").register(meters);
        io.micrometer.core.instrument.Gauge.builder("cpstream.collector.shared.references", shared,
                        SharedPages::references)
                .description("Pages of all standbys held in the shared page store").register(meters);
        io.micrometer.core.instrument.Gauge.builder("cpstream.collector.shared.saved.bytes.total", shared,
                        SharedPages::savedBytes)
                .description("Bytes the shared page store saves over storing every page on its own").register(meters);
        return shared;
    }

    /** The shared page store, or null when sharing was never on. */
    SharedPages sharedPages() {
        return sharedPages;
    }
}
