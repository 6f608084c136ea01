package io.cpstream.collector.store;

import io.cpstream.snapshot.DurableFiles;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The standby of one VM on disk: a sparse, memory-mapped image of guest memory, the manifest, the committed
 * epoch's state ({@code state.bin}) and the journal of the epoch being staged.
 *
 * <p>A checkpoint is staged into the journal, sealed, read back once and copied into the image page by page
 * as each page record verifies, and then its state is appended to the commit log ({@link CommitLog}; the manifest
 * is rewritten only when more than the epoch changes). Opening the store verifies a sealed journal the commit log
 * does not reflect yet and replays it, so after a process crash at any instant
 * the standby equals exactly one committed epoch (invariant I1). If an apply fails midway (an I/O error, a
 * record that does not verify) the store knows the image may hold a mix: it refuses to stage another epoch
 * until {@link #finishApply()} completed the sealed one, and if the journal cannot complete it, the manifest
 * says a full sync is required, which no promotion and no delta accepts.
 *
 * <p>Not thread-safe: its owner serialises calls.
 */
public final class ImageStore implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(ImageStore.class.getName());
    static final String IMAGE = "image.mem";
    static final String MANIFEST = "manifest.json";
    static final String STATE = "state.bin";
    static final String JOURNAL = "journal.wal";

    private final Path directory;
    private final Durability durability;
    private final Arena arena = Arena.ofShared();
    private final FileChannel imageChannel;
    private final MemorySegment image;
    private final Journal journal;
    private final CommitLog commits;
    /** The collector's shared page store, or null (no sharing: a format-3 standby cannot be opened). */
    private final SharedPages shared;
    /** Which pages the shared store holds, for a standby of format 3; else null. */
    private PageMap map;
    /** The last {@link #sharing()} count, for status and gauges between passes. */
    private volatile SharingStats sharingStats = SharingStats.NONE;
    /** Immutable, replaced whole at each change: volatile so metrics read it without the standby's monitor. */
    private volatile StandbyManifest manifest;
    private CommittedState committed;
    private long stagingEpoch = -1;
    private long stagedPages;
    /** A sealed epoch whose apply did not finish; -1 when none. While set, the image may hold a mix. */
    private long unapplied = -1;

    private ImageStore(Path directory, StandbyManifest manifest, CommittedState committed, Durability durability,
            JournalBuffers buffers, SharedPages shared) throws IOException {
        this.directory = directory;
        this.shared = shared != null && shared.pageSize() == manifest.pageSize() ? shared : null;
        this.durability = durability;
        this.manifest = manifest;
        this.committed = committed;
        this.commits = new CommitLog(directory, durability.durable());
        long bytes = Math.multiplyExact((long) manifest.pageSize(), manifest.pageCount());
        this.imageChannel = FileChannel.open(directory.resolve(IMAGE), StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        try {
            if (imageChannel.size() != bytes) {
                throw new IOException(directory.resolve(IMAGE) + " is " + imageChannel.size()
                        + " bytes but the manifest describes " + bytes);
            }
            this.image = imageChannel.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            this.journal = new Journal(directory.resolve(JOURNAL), manifest.pageSize(), buffers);
            if (manifest.sharesPages()) {
                if (this.shared == null) {
                    journal.close();
                    throw new IOException(directory + " holds pages in the collector's shared page store, which this "
                            + "store was opened without");
                }
                this.map = PageMap.open(directory, manifest.pageCount());
            }
        } catch (IOException | RuntimeException e) {
            imageChannel.close();
            arena.close();
            throw e;
        }
    }

    /** Creates an empty standby: a sparse image of zeros and a manifest that demands a full sync. */
    public static ImageStore create(Path directory, StandbyManifest fresh, Durability durability) throws IOException {
        return create(directory, fresh, durability, JournalBuffers.single(), null);
    }

    /** As {@link #create(Path, StandbyManifest, Durability)}, its journal buffered from {@code buffers}. */
    public static ImageStore create(Path directory, StandbyManifest fresh, Durability durability,
            JournalBuffers buffers, SharedPages shared) throws IOException {
        DurableFiles.createPrivateDirectories(directory);
        try (FileChannel file = DurableFiles.openPrivate(directory.resolve(IMAGE))) {
            file.truncate(0); // a creation that died halfway may have left one
            file.position(Math.multiplyExact((long) fresh.pageSize(), fresh.pageCount()) - 1);
            file.write(java.nio.ByteBuffer.allocate(1));
            if (durability.durable()) {
                file.force(true);
            }
        }
        boolean sharing = shared != null && shared.enabled() && shared.pageSize() == fresh.pageSize();
        if (sharing) {
            PageMap.create(directory, fresh.pageCount()).close(); // before the manifest that says it is there
        }
        StandbyManifest stamped = (sharing ? fresh.withSharedPages() : fresh.withCommitLog())
                .withBootId(durability.durable() ? null : BootId.current());
        new CommitLog(directory, durability.durable()).reset(0, CommittedState.EMPTY); // before the manifest naming it
        stamped.write(directory.resolve(MANIFEST), durability.durable());
        if (durability.durable()) {
            DurableFiles.forceDirectory(directory);
            DurableFiles.forceDirectory(directory.getParent());
        }
        return new ImageStore(directory, stamped, CommittedState.EMPTY, durability, buffers, shared);
    }

    /** Opens an existing standby, finishing a commit that a crash interrupted. */
    public static ImageStore open(Path directory, Durability durability) throws IOException {
        return open(directory, durability, JournalBuffers.single(), null);
    }

    /** As {@link #open(Path, Durability)}, its journal buffered from {@code buffers}. */
    public static ImageStore open(Path directory, Durability durability, JournalBuffers buffers, SharedPages shared)
            throws IOException {
        StandbyManifest.Read read = StandbyManifest.read(directory.resolve(MANIFEST));
        StandbyManifest manifest = read.manifest();
        long epoch = manifest.committedEpoch();
        CommittedState state = read.legacyState();
        String stateProblem = null;
        if (manifest.usesCommitLog()) {
            try {
                CommitLog.Last last = new CommitLog(directory, durability.durable()).committed();
                state = last.state();
                manifest = manifest.withCommitted(state.epoch(), last.stunUnixMicros());
            } catch (IOException e) {
                stateProblem = e.getMessage();
                state = CommittedState.EMPTY.atEpoch(epoch);
            }
        } else if (state == null) {
            try {
                state = readState(directory.resolve(STATE), epoch);
            } catch (IOException e) {
                stateProblem = e.getMessage();
                state = CommittedState.EMPTY.atEpoch(epoch);
            }
        }
        ImageStore store = new ImageStore(directory, manifest, state, durability, buffers, shared);
        try {
            store.recover(read.legacyState() != null || stateProblem != null, stateProblem);
            store.startSharing();
        } catch (IOException | RuntimeException e) {
            store.close();
            throw e;
        }
        return store;
    }

    /**
     * The epoch the files of the standby in {@code directory} say is committed, read without opening it (no replay
     * of a sealed journal, nothing written): the commit log's last whole record, or the manifest's epoch for a
     * standby of format 2 or 3.
     */
    public static long committedEpochOnDisk(Path directory) throws IOException {
        StandbyManifest manifest = StandbyManifest.read(directory.resolve(MANIFEST)).manifest();
        if (!manifest.usesCommitLog()) {
            return manifest.committedEpoch();
        }
        return new CommitLog(directory, false).committed().state().epoch();
    }

    public static boolean exists(Path directory) {
        return Files.isRegularFile(directory.resolve(MANIFEST));
    }

    public Path directory() {
        return directory;
    }

    /** What an acknowledgement of this standby's state survives (its event journal's follows the same rule). */
    public Durability durability() {
        return durability;
    }

    public StandbyManifest manifest() {
        return manifest;
    }

    /** Device state, outputs and primary digest of the committed epoch. */
    public CommittedState committed() {
        return committed;
    }

    /**
     * Counts, into {@code shared}, every page the standby in {@code directory} holds there: at collector start, for
     * every standby (also one that will not open) before any of them replays a journal, so that no slot a standby
     * refers to is given to another.
     */
    public static void pinShared(Path directory, SharedPages shared) throws IOException {
        forEachShared(directory, shared::pin);
    }

    /** The standby in {@code directory} is deleted: the slots it referred to are released. */
    public static void unpinShared(Path directory, SharedPages shared) throws IOException {
        forEachShared(directory, shared::release);
    }

    private interface SlotAction {
        void apply(int slot) throws IOException;
    }

    private static void forEachShared(Path directory, SlotAction action) throws IOException {
        if (!exists(directory) || !PageMap.exists(directory)
                || !StandbyManifest.read(directory.resolve(MANIFEST)).manifest().sharesPages()) {
            return;
        }
        StandbyManifest manifest = StandbyManifest.read(directory.resolve(MANIFEST)).manifest();
        try (PageMap map = PageMap.open(directory, manifest.pageCount())) {
            for (long page = 0; page < map.pageCount(); page++) {
                int slot = map.slot(page);
                if (slot >= 0) {
                    action.apply(slot);
                }
            }
        }
    }

    /** A format-2 standby opened by a collector that shares pages gets a page map (format 3). */
    private void startSharing() throws IOException {
        if (map != null || shared == null || !shared.enabled()) {
            return;
        }
        map = PageMap.create(directory, manifest.pageCount());
        updateManifest(manifest.withSharedPages());
    }

    /** Committed page {@code index}; read it only while no commit is running. */
    public MemorySegment page(long index) {
        int pageSize = manifest.pageSize();
        int slot = map == null ? -1 : map.slot(index);
        return slot >= 0 ? shared.slot(slot).asReadOnly() : image.asSlice(index * pageSize, pageSize).asReadOnly();
    }

    /** SHA-256 of the committed image, page by page; read it only while no commit is running. */
    public byte[] sha256() {
        java.security.MessageDigest digest = io.cpstream.encoder.ImageDigest.newSha256();
        int pageSize = manifest.pageSize();
        long pageCount = manifest.pageCount();
        // Runs of pages the image file holds go in as one slice each, not a page at a time: a slice per page
        // allocated three objects per page of a 16 MiB guest at every verified epoch, a fifth of what the bench's
        // JVM allocated, and each ZGC cycle that allocation set off slowed the agent's next stun.
        long runStart = 0;
        for (long page = 0; page <= pageCount; page++) {
            int slot = page == pageCount || map == null ? -1 : map.slot(page);
            if (page < pageCount && slot < 0) {
                continue;
            }
            io.cpstream.encoder.ImageDigest.update(digest,
                    image.asSlice(runStart * pageSize, (page - runStart) * pageSize));
            if (slot >= 0) {
                io.cpstream.encoder.ImageDigest.update(digest, shared.slot(slot));
            }
            runStart = page + 1;
        }
        return digest.digest();
    }

    /** How much of this standby the shared page store holds: its pages there, and the bytes that saves. */
    public record SharingStats(long sharedPages, long referencedPages, long savedBytes) {
        public static final SharingStats NONE = new SharingStats(0, 0, 0);
    }

    /**
     * Counts this standby's pages in the shared store: those whose slot other pages refer to too ({@code
     * sharedPages}) and the bytes saved, each such page's share of its slot's saving, pageSize x (n - 1) / n for a
     * slot n pages refer to. A pass over the page map; at most once a second, the last result in between.
     */
    public SharingStats sharing() {
        SharingStats last = sharingStats;
        long now = System.nanoTime();
        if (map == null || now - lastSharingScan < 1_000_000_000L) {
            return last;
        }
        lastSharingScan = now;
        long sharedPages = 0;
        long referenced = 0;
        double saved = 0;
        try {
            for (long page = 0; page < manifest.pageCount(); page++) {
                int slot = map.slot(page);
                if (slot >= 0) {
                    referenced++;
                    int n = shared.referencesTo(slot);
                    if (n > 1) {
                        sharedPages++;
                        saved += (double) manifest.pageSize() * (n - 1) / n;
                    }
                }
            }
        } catch (IllegalStateException closed) {
            return last; // closed (deleted) meanwhile
        }
        SharingStats stats = new SharingStats(sharedPages, referenced, Math.round(saved));
        sharingStats = stats;
        return stats;
    }

    private volatile long lastSharingScan = System.nanoTime() - 2_000_000_000L;

    /** True while a sealed epoch's apply has not finished: the image may hold a mix of two epochs. */
    public boolean applyPending() {
        return unapplied >= 0;
    }

    /** Starts staging {@code epoch}. Anything staged before and not committed is dropped. */
    public void begin(long epoch, long base, boolean full, long stunUnixMicros) throws IOException {
        if (applyPending()) {
            throw new IOException("epoch " + unapplied + " is sealed but not applied; finish it first");
        }
        journal.begin(epoch, base, full, stunUnixMicros);
        stagingEpoch = epoch;
        stagedPages = 0;
    }

    public void stagePage(int page, MemorySegment content) throws IOException {
        requireStaging();
        journal.appendPage(page, content);
        stagedPages++;
    }

    /** Stages what the epoch holds besides memory: device state, outputs, the primary's digest. */
    public void stageState(CommittedState state) throws IOException {
        requireStaging();
        journal.appendState(state);
    }

    /** Forgets the staged epoch; the committed standby is untouched. */
    public void abort() {
        stagingEpoch = -1;
        journal.discard();
    }

    /**
     * Writes what was staged so far to the journal and returns its buffer to the collector's pool: call after each
     * message, before waiting on the network. A write that fails here makes the epoch's seal fail (nothing of it
     * commits).
     */
    public void yieldJournalBuffer() {
        journal.yieldBuffer();
    }

    /**
     * Seals the staged epoch, applies it to the image and makes it the committed one.
     *
     * @throws ApplyFailedException the epoch is sealed but its apply did not finish: the image may hold a mix
     *                              until {@link #finishApply()} succeeds
     * @throws IOException          before the seal: the committed standby is untouched
     */
    public StandbyManifest commit(long epoch) throws IOException {
        requireStaging();
        if (epoch != stagingEpoch) {
            throw new IllegalStateException("committing epoch " + epoch + " while staging " + stagingEpoch);
        }
        journal.seal(epoch, stagedPages, durability.durable());
        stagingEpoch = -1;
        unapplied = epoch;
        // One pass: these are the bytes this process wrote a moment ago, so each page record is applied as soon
        // as it verifies. A record that does not (the disk gave back something else) stops the apply, and the
        // sealed epoch stays pending: finishApply() tries again, and gives the image up to a full sync if it
        // cannot.
        try {
            applyJournal(true);
        } catch (IOException | RuntimeException | InternalError e) {
            // InternalError: a write to the mapped image failed (the disk is full under the sparse file).
            throw new ApplyFailedException("epoch " + epoch + " is sealed but applying it failed: " + e.getMessage(), e);
        }
        return manifest;
    }

    /**
     * Completes the apply of a sealed epoch that failed midway (see {@link #commit}). Returns true if the epoch
     * is now committed; false if the journal cannot complete it, in which case the standby now requires a full
     * sync (the image may be a mix: nothing may promote it or build on it). Does nothing if no apply is pending.
     */
    public boolean finishApply() throws IOException {
        if (!applyPending()) {
            return true;
        }
        Journal.Scan scan = journal.read(null);
        if (scan.found() != Journal.Found.SEALED || scan.header().epoch() != unapplied) {
            LOG.log(System.Logger.Level.ERROR, "vm {0}: sealed epoch {1} cannot be replayed from the journal ({2}); the "
                    + "image may hold a mix of two epochs and needs a full sync", manifest.vm(), unapplied, scan.found());
            unapplied = -1;
            updateManifest(manifest.withFullSyncRequired());
            return false;
        }
        try {
            applyJournal(false);
        } catch (InternalError e) {
            throw new ApplyFailedException("applying sealed epoch " + unapplied + " failed again: " + e.getMessage(), e);
        }
        return true;
    }

    /** Replaces the manifest (fencing epoch, promotion, full-sync flag); durable before returning. */
    public void updateManifest(StandbyManifest next) throws IOException {
        StandbyManifest stamped = next.withBootId(durability.durable() ? null : BootId.current());
        stamped.write(directory.resolve(MANIFEST), true);
        manifest = stamped;
    }

    @Override
    public void close() throws IOException {
        try {
            if (map != null) {
                map.close();
            }
            journal.close();
        } finally {
            try {
                imageChannel.close();
            } finally {
                arena.close();
            }
        }
    }

    /**
     * @param rewriteState write {@code state.bin} anew (migrated from a format-1 manifest, or unreadable)
     * @param stateProblem why {@code state.bin} could not be read, or null
     */
    private void recover(boolean rewriteState, String stateProblem) throws IOException {
        StandbyManifest before = manifest;
        String suspicion = stateProblem;
        String boot = BootId.current();
        if (!durability.durable() && manifest.bootId() != null && boot != null && !manifest.bootId().equals(boot)) {
            // Nothing was forced: since the host went down, the image, the journal and these files hold whatever the
            // kernel had written back, possibly pages of several epochs.
            suspicion = "the host restarted since this standby was last written with durability none";
        }
        boolean upgraded = !manifest.usesCommitLog();
        if (upgraded || rewriteState) {
            // Format 2 or 3 (state.bin), or a log that could not be read: the committed state becomes the log's first
            // record, before a replay below appends to it. The manifest naming the log is written after it.
            commits.reset(manifest.stunUnixMicros(), committed);
            manifest = manifest.withCommitLog();
        }
        Journal.Scan scan = journal.read(null);
        long committedEpoch = manifest.committedEpoch();
        if (suspicion == null && scan.header() != null && scan.header().epoch() > committedEpoch) {
            Journal.Header header = scan.header();
            if (scan.found() == Journal.Found.SEALED && (header.full() || header.base() == committedEpoch)) {
                unapplied = header.epoch();
                applyJournal(false);
            } else if (scan.found() == Journal.Found.CORRUPT) {
                suspicion = "the journal of sealed epoch " + header.epoch() + " does not verify, and its apply may "
                        + "have begun";
            }
        }
        if (suspicion == null && committed.epoch() != manifest.committedEpoch()) {
            suspicion = "state.bin holds epoch " + committed.epoch() + " and the manifest epoch "
                    + manifest.committedEpoch();
        }
        if (suspicion != null && !manifest.fullSyncRequired()) {
            LOG.log(System.Logger.Level.WARNING, "vm {0}: {1}; the standby needs a full sync before it can be promoted",
                    manifest.vm(), suspicion);
            manifest = manifest.withFullSyncRequired();
        }
        if (manifest != before || !java.util.Objects.equals(manifest.bootId(), durability.durable() ? null : boot)) {
            updateManifest(manifest);
        }
        if (upgraded) {
            Files.deleteIfExists(directory.resolve(STATE)); // superseded by the log, which the manifest now names
        }
    }

    /** Applies the journal's sealed epoch to the image and makes it the committed one. */
    private void applyJournal(boolean live) throws IOException {
        int pageSize = manifest.pageSize();
        long pageCount = manifest.pageCount();
        CommittedState[] state = {null};
        Journal.Scan scan = journal.read(new Journal.Visitor() {
            @Override
            public void page(int page, MemorySegment content) throws IOException {
                if (page < 0 || page >= pageCount) {
                    throw new IOException("journal names page " + page + " of " + pageCount);
                }
                if (map == null) {
                    MemorySegment.copy(content, 0, image, (long) page * pageSize, pageSize);
                } else {
                    applyShared(page, content);
                }
            }

            @Override
            public void state(CommittedState staged) {
                state[0] = staged;
            }
        });
        if (scan.found() != Journal.Found.SEALED || scan.header().epoch() != unapplied) {
            throw new IOException("the journal of epoch " + unapplied + " does not verify" + (live ? " on reading it back" : ""));
        }
        if (state[0] == null || state[0].epoch() != unapplied) {
            throw new IOException("the journal of epoch " + unapplied + " holds no state record of that epoch");
        }
        if (durability.durable()) {
            if (map != null) {
                shared.force(); // the slots before the map that refers to them
                map.force();
            }
            image.force();
        }
        commits.append(scan.header().stunUnixMicros(), state[0]);
        StandbyManifest next = manifest.withCommit(unapplied, scan.header().stunUnixMicros());
        if (manifest.fullSyncRequired()) {
            // The commit changes more than the epoch (the image can serve again): the manifest must say so.
            next = next.withBootId(durability.durable() ? null : BootId.current());
            next.write(directory.resolve(MANIFEST), durability.durable());
        }
        manifest = next;
        committed = state[0];
        unapplied = -1;
    }

    /**
     * One page of a sealed epoch, on a standby with a page map. A non-zero page goes to the shared store (an equal
     * page's slot, or a new one), a zero page to a hole of the image; the slot the page was in before is released
     * only after the map refers to the new place. Replaying does the same again, so a crash anywhere in between is
     * repaired by the replay of the journal, which names every page whose entry may have changed; a slot released
     * here is one only this epoch's pages referred to, so no other standby's committed image can lose it.
     */
    private void applyShared(int page, MemorySegment content) throws IOException {
        int pageSize = manifest.pageSize();
        int old = map.slot(page);
        MemorySegment own = image.asSlice((long) page * pageSize, pageSize);
        if (shared.enabled() && !io.cpstream.encoder.ZeroPages.isZero(content)) {
            int slot = shared.store(content);
            map.set(page, slot);
            if (old >= 0) {
                shared.release(old);
            }
            return;
        }
        // Held in the image: the copy there may be stale from before the page went to the shared store.
        if (!io.cpstream.encoder.ZeroPages.isZero(content) || !io.cpstream.encoder.ZeroPages.isZero(own)) {
            MemorySegment.copy(content, 0, image, (long) page * pageSize, pageSize);
        }
        if (old >= 0) {
            map.set(page, -1);
            shared.release(old);
        }
    }

    private static CommittedState readState(Path file, long manifestEpoch) throws IOException {
        try {
            return CommittedState.decode(Files.readAllBytes(file), file.toString());
        } catch (NoSuchFileException e) {
            if (manifestEpoch == 0) {
                return CommittedState.EMPTY;
            }
            throw new IOException(file + " is missing, but the manifest says epoch " + manifestEpoch + " is committed");
        }
    }

    private void requireStaging() {
        if (stagingEpoch < 0) {
            throw new IllegalStateException("no epoch is being staged");
        }
    }
}
