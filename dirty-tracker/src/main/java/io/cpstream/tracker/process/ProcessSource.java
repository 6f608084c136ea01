package io.cpstream.tracker.process;

import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.SourceStun;
import io.cpstream.tracker.Stun;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import net.jpountz.xxhash.XXHash64;
import net.jpountz.xxhash.XXHashFactory;

/**
 * A live Linux process as a guest: its writable memory, checkpointed while it is stopped.
 *
 * <p>Spec: {@code process:pid=PID[,max=SIZE][,shared=false]} (or {@code process:PID}).
 * <ul>
 *   <li>Stun: SIGSTOP, then wait until every thread is stopped; resume: SIGCONT.</li>
 *   <li>Memory: the readable, writable private mappings of {@code /proc/PID/maps} (and shared ones
 *       with {@code shared=true}), laid out on a fixed guest page space of {@code max} bytes by a
 *       {@link PageLayout} that keeps every page where it was across epochs. {@code max} defaults to
 *       twice the writable memory at open, at least 256 MiB (a fresh process grows fast), since the collector's image size is fixed.</li>
 *   <li>Dirty pages: there is no write tracking for another process here, so each harvest reads every
 *       protected page (with {@code process_vm_readv}) and compares its XXHash64 with the one of the
 *       previous harvest. Private anonymous pages that {@code /proc/PID/pagemap} shows neither in memory
 *       nor in swap were never written: they count as zero without being read. Pages of mappings that
 *       vanished read as zero. The cost is a read of all resident writable memory inside every stun.</li>
 *   <li>Device state: the layout at the stun (which virtual pages are in which guest pages).</li>
 * </ul>
 * Needs ptrace-level access to the process (root, or its user with {@code ptrace_scope} 0). Closing
 * the source resumes the process and leaves it running; it is not ours to end.
 */
public final class ProcessSource implements MemorySource {

    public static final int PAGE_SIZE = 4096;
    static final long DEFAULT_MIN_BYTES = 256L << 20;
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);
    private static final int SCAN_CHUNK_PAGES = 256;
    private static final long HASH_SEED = 0x6370_7374_7265_616DL; // "cpstream"
    private static final XXHash64 HASH = XXHashFactory.fastestInstance().hash64();
    private static final long ZERO_PAGE_HASH = HASH.hash(new byte[PAGE_SIZE], 0, PAGE_SIZE, HASH_SEED);
    private static final long DEVICE_STATE_MAGIC = 0x4350_5350_524F_4331L; // "CPSPROC1"

    /**
     * What one harvest did: how many mappings, how many bytes they cover and how many were read (pages
     * never written are skipped), and how long the whole harvest took.
     */
    public record Scan(int mappings, long coveredBytes, long readBytes, long nanos, long dirtyPages) {
    }

    private final int pid;
    private final Map<String, String> params;
    private final boolean includeShared;
    private final int pageCount;
    private final PageLayout layout;
    private final long[] hashes;
    /** Virtual address of each guest page, 0 for pages no mapping holds (they read as zero). */
    private final long[] addressOfPage;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment scanBuffer = arena.allocate((long) SCAN_CHUNK_PAGES * PAGE_SIZE, PAGE_SIZE);
    private final ByteBuffer scanView = scanBuffer.asByteBuffer();
    private final RemoteMemory remote;
    private final PageMap pageMap;
    private final boolean[] backed = new boolean[SCAN_CHUNK_PAGES];
    /** Guest pages found never written at the last harvest: while stunned they read as zero without a read. */
    private final BitSet neverWritten;
    private final Thread resumeOnExit;
    private volatile boolean stopped;
    /** Whether {@link #neverWritten} describes the process as it is now: harvested in the current stun. */
    private volatile boolean neverWrittenCurrent;
    private boolean firstHarvest = true;
    private long stuns;
    private Scan lastScan = new Scan(0, 0, 0, 0, 0);

    private ProcessSource(SourceSpec spec, int pid, long maxBytes, boolean includeShared, List<Mapping> initial) {
        this.pid = pid;
        this.params = spec.params();
        this.includeShared = includeShared;
        this.pageCount = Math.toIntExact(maxBytes / PAGE_SIZE);
        this.layout = new PageLayout(PAGE_SIZE, pageCount);
        this.hashes = new long[pageCount];
        Arrays.fill(hashes, ZERO_PAGE_HASH);
        this.addressOfPage = new long[pageCount];
        this.remote = new RemoteMemory(pid, PAGE_SIZE);
        this.pageMap = new PageMap(pid);
        this.neverWritten = new BitSet(pageCount);
        applyLayout(layout.update(initial));
        this.resumeOnExit = new Thread(this::resumeIfStopped, "process-" + pid + "-resume-on-exit");
        Runtime.getRuntime().addShutdownHook(resumeOnExit);
    }

    public static ProcessSource open(SourceSpec spec) {
        SourceSpec.Reader reader = spec.reader();
        long pid = reader.integer("pid", -1, 1, Integer.MAX_VALUE);
        if (pid < 0) {
            throw new IllegalArgumentException("process source needs the process id: process:pid=PID (or process:PID)");
        }
        boolean shared = parseBoolean("shared", reader.string("shared", "false"));
        long max = reader.has("max") ? reader.bytes("max", 0, PAGE_SIZE, (long) Integer.MAX_VALUE * PAGE_SIZE) : -1;
        reader.requireAllUsed();
        List<Mapping> initial = ProcessMaps.protectedMappings((int) pid, shared);
        long writable = initial.stream().mapToLong(Mapping::bytes).sum();
        if (max < 0) {
            max = roundUp(Math.max(DEFAULT_MIN_BYTES, 2 * writable), 1L << 20);
        }
        if (max % PAGE_SIZE != 0) {
            throw new IllegalArgumentException("process source: max must be a multiple of " + PAGE_SIZE + " bytes");
        }
        if (max < writable) {
            throw new IllegalArgumentException("process source: process " + pid + " has " + (writable >> 20)
                    + " MiB of writable memory, more than max=" + spec.params().get("max"));
        }
        ProcessSource source = new ProcessSource(spec, (int) pid, max, shared, initial);
        try {
            source.checkAccess();
        } catch (RuntimeException e) {
            source.close();
            throw e;
        }
        return source;
    }

    @Override
    public String kind() {
        return "process";
    }

    @Override
    public Map<String, String> params() {
        return params;
    }

    @Override
    public int pageSize() {
        return PAGE_SIZE;
    }

    @Override
    public int pageCount() {
        return pageCount;
    }

    public int pid() {
        return pid;
    }

    /** The most recent harvest's read volume and duration. */
    public synchronized Scan lastScan() {
        return lastScan;
    }

    /** Bytes of process memory currently laid out on guest pages. */
    public synchronized long protectedBytes() {
        return layout.usedPages() * PAGE_SIZE;
    }

    /** The guest page that holds the virtual page containing {@code address} in the current layout, or -1. */
    public synchronized int guestPageOf(long address) {
        for (PageLayout.Extent extent : layout.extents()) {
            if (address >= extent.start() && address < extent.end()) {
                return extent.firstPage() + (int) ((address - extent.start()) / PAGE_SIZE);
            }
        }
        return -1;
    }

    /** Whether guest page {@code page} holds process memory now (else it reads as zero). */
    synchronized boolean holdsPage(int page) {
        return addressOfPage[page] != 0;
    }

    /** The process runs already; nothing to start. */
    @Override
    public void start() {
    }

    @Override
    public Stun stun() {
        long begin = System.nanoTime();
        neverWrittenCurrent = false;
        stopped = true;
        try {
            ProcessStopper.stop(pid, STOP_TIMEOUT);
        } catch (RuntimeException e) {
            stopped = false;
            throw e;
        }
        long stopNanos = System.nanoTime() - begin;
        synchronized (this) {
            stuns++;
        }
        return new SourceStun("process", stopNanos) {
            @Override
            public BitSet harvestDirty() {
                requireOpen();
                return harvest();
            }

            @Override
            public byte[] deviceState() {
                requireOpen();
                return layoutBlob();
            }

            @Override
            protected void release() {
                resumeIfStopped();
            }
        };
    }

    @Override
    public synchronized void copyPage(int page, MemorySegment dst, long dstOffset) {
        long address = addressOfPage[page];
        // Reading a never-written page would fault in the zero page, and the next scan would read it.
        if (address == 0 || (neverWrittenCurrent && neverWritten.get(page))) {
            dst.asSlice(dstOffset, PAGE_SIZE).fill((byte) 0);
        } else {
            remote.read(address, dst, dstOffset, PAGE_SIZE);
        }
    }

    @Override
    public synchronized void close() {
        try {
            resumeIfStopped();
        } catch (ProcessGoneException e) {
            // nothing left to resume
        }
        try {
            Runtime.getRuntime().removeShutdownHook(resumeOnExit);
        } catch (IllegalStateException e) {
            // the JVM is shutting down; the hook runs anyway
        }
        remote.close();
        pageMap.close();
        arena.close();
    }

    /** Reads every protected page and reports those whose hash changed (every page, the first time). */
    private synchronized BitSet harvest() {
        long begin = System.nanoTime();
        List<Mapping> mappings = ProcessMaps.protectedMappings(pid, includeShared);
        BitSet dirty = new BitSet(pageCount);
        for (FreePageRuns.Run run : applyLayout(layout.update(mappings))) {
            for (int page = run.first(); page < run.first() + run.pages(); page++) {
                if (hashes[page] != ZERO_PAGE_HASH) {
                    hashes[page] = ZERO_PAGE_HASH;
                    dirty.set(page);
                }
            }
        }
        neverWritten.clear();
        long bytesRead = 0;
        // Walk mappings and extents together: chunks never cross either, so each knows its guest pages
        // and whether it is private anonymous memory (where pages the process never wrote read as zero).
        List<PageLayout.Extent> extents = layout.extents();
        int e = 0;
        for (Mapping mapping : mappings) {
            boolean anonymous = !mapping.shared() && (mapping.path().isEmpty() || mapping.path().startsWith("[heap]")
                    || mapping.path().startsWith("[stack"));
            while (e < extents.size() && extents.get(e).end() <= mapping.start()) {
                e++;
            }
            for (int x = e; x < extents.size() && extents.get(x).start() < mapping.end(); x++) {
                PageLayout.Extent extent = extents.get(x);
                long from = Math.max(extent.start(), mapping.start());
                long to = Math.min(extent.end(), mapping.end());
                int page = extent.firstPage() + (int) ((from - extent.start()) / PAGE_SIZE);
                for (long address = from; address < to; ) {
                    int pages = (int) Math.min(SCAN_CHUNK_PAGES, (to - address) / PAGE_SIZE);
                    bytesRead += scanChunk(address, pages, page, anonymous, dirty);
                    address += (long) pages * PAGE_SIZE;
                    page += pages;
                }
            }
        }
        neverWrittenCurrent = true;
        if (firstHarvest) {
            firstHarvest = false;
            dirty.set(0, pageCount);
        }
        lastScan = new Scan(mappings.size(), layout.usedPages() * PAGE_SIZE, bytesRead, System.nanoTime() - begin,
                dirty.cardinality());
        return dirty;
    }

    /** Hashes {@code pages} pages from {@code address} (guest pages from {@code firstPage}); returns bytes read. */
    private long scanChunk(long address, int pages, int firstPage, boolean anonymous, BitSet dirty) {
        long read = 0;
        if (anonymous) {
            pageMap.backed(address, pages, PAGE_SIZE, backed);
        } else {
            Arrays.fill(backed, 0, pages, true);
        }
        for (int i = 0; i < pages; ) {
            if (!backed[i]) {
                neverWritten.set(firstPage + i);
                record(firstPage + i, ZERO_PAGE_HASH, dirty);
                i++;
                continue;
            }
            int run = i;
            while (run < pages && backed[run]) {
                run++;
            }
            long length = (long) (run - i) * PAGE_SIZE;
            remote.read(address + (long) i * PAGE_SIZE, scanBuffer, 0, length);
            for (int offset = 0; offset < length; offset += PAGE_SIZE, i++) {
                record(firstPage + i, HASH.hash(scanView, offset, PAGE_SIZE, HASH_SEED), dirty);
            }
            read += length;
        }
        return read;
    }

    private void record(int page, long hash, BitSet dirty) {
        if (hash != hashes[page]) {
            hashes[page] = hash;
            dirty.set(page);
        }
    }

    /** Points every guest page at its virtual page after a layout update; returns the runs released. */
    private List<FreePageRuns.Run> applyLayout(PageLayout.Update update) {
        for (FreePageRuns.Run run : update.released()) {
            Arrays.fill(addressOfPage, run.first(), run.first() + run.pages(), 0L);
        }
        if (update.changed()) {
            for (PageLayout.Extent extent : layout.extents()) {
                int page = extent.firstPage();
                for (long address = extent.start(); address < extent.end(); address += PAGE_SIZE) {
                    addressOfPage[page++] = address;
                }
            }
        }
        return update.released();
    }

    /** "CPSPROC1", pid, stun count, extent count, then per extent: start, end, first guest page (big-endian). */
    private synchronized byte[] layoutBlob() {
        List<PageLayout.Extent> extents = layout.extents();
        ByteBuffer blob = ByteBuffer.allocate(8 + 4 + 8 + 4 + extents.size() * 20);
        blob.putLong(DEVICE_STATE_MAGIC).putInt(pid).putLong(stuns).putInt(extents.size());
        for (PageLayout.Extent extent : extents) {
            blob.putLong(extent.start()).putLong(extent.end()).putInt(extent.firstPage());
        }
        return blob.array();
    }

    private void resumeIfStopped() {
        if (stopped) {
            neverWrittenCurrent = false;
            stopped = false;
            ProcessStopper.resume(pid);
        }
    }

    /** Fails early, with the reason, when this process's memory cannot be read. */
    private void checkAccess() {
        List<PageLayout.Extent> extents = layout.extents();
        if (extents.isEmpty()) {
            throw new IllegalArgumentException("process " + pid + " has no writable memory to protect");
        }
        try (Arena probe = Arena.ofConfined()) {
            remote.read(extents.getFirst().start(), probe.allocate(PAGE_SIZE, PAGE_SIZE), 0, PAGE_SIZE);
        }
    }

    private static boolean parseBoolean(String key, String value) {
        return switch (value) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("process source: " + key + "=" + value + " must be true or false");
        };
    }

    private static long roundUp(long value, long unit) {
        return (value + unit - 1) / unit * unit;
    }
}
