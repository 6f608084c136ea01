package io.cpstream.tracker.sim;

import io.cpstream.tracker.AnonymousMemory;
import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.ProtectedPages;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.SourceStun;
import io.cpstream.tracker.Stun;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.apache.commons.rng.UniformRandomProvider;
import org.apache.commons.rng.simple.RandomSource;

/**
 * A synthetic guest: off-heap memory mutated by writer threads in a chosen {@link Workload}.
 *
 * <p>Spec: {@code sim:mem=64m,workload=mixed,writers=1,rate=40000,seed=1}. {@code rate} is write
 * operations per second over all writers (0: as fast as they can). Tracking is exact: a writer marks
 * the page dirty inside the same critical section as the write, and the stun waits for every critical
 * section to end, so a harvest never misses a write and never reports one from after the stun.
 *
 * <p>Copy-before-write ({@link Stun#protect}): a writer checks, inside its critical section and before
 * it writes, whether the page is protected; if so it saves the page first. That is the Java counterpart
 * of a userfaultfd write-protect fault, with the same guarantee: the protected set always yields the
 * page as it was at the stun.
 *
 * <p>{@code workload=stable} takes {@code hot-pages} (64) and {@code hot-share} (percent, 20);
 * {@code fill=random|zero} is the initial content of a fresh guest (random, one page in eight zero), drawn from
 * {@code image-seed} (default: {@code seed}): guests of one {@code image-seed} and different {@code seed}s start from
 * one image and then diverge, like VMs cloned from one template (what page sharing on the collector is for).
 *
 * <p>The guest also has an output channel, like a VM's network card: an output thread increments a
 * 64-bit counter kept in the last page of guest memory and emits its new value, {@code outputs} times a
 * second (0: no output). The increment, its dirty mark and the emission happen in one critical
 * section, so the outputs taken while stunned are exactly those whose cause is in the checkpoint, and a
 * guest restored from a checkpoint continues the sequence where that checkpoint left it. The last page
 * belongs to the counter alone; the workload writes the pages before it.
 */
public final class SimSource implements MemorySource {

    public static final int PAGE_SIZE = 4096;
    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
    /** Writes a writer makes per critical section: amortises the lock, bounds how long a stun waits. */
    private static final int OPS_PER_SECTION = 16;
    private static final long MAX_BURST_NANOS = 1_000_000;
    private static final int MAX_PENDING_OUTPUTS = 65_536;

    private final Map<String, String> params;
    private final int pageCount;
    private final Workload workload;
    private final Workload.Stable stableShape;
    private final boolean zeroFill;
    private final int writerCount;
    /** Write operations per second over all writers; 0: unlimited. Changeable while running ({@link #setRate}). */
    private volatile long opsPerSecond;
    private final long seed;
    /** What the initial content is drawn from. */
    private final long imageSeed;
    private final long outputsPerSecond;
    /** Outputs emitted and not yet taken by {@link #pollOutputs(long)}; bounded, so output back-pressures the guest. */
    private final ArrayDeque<GuestOutput> outputQueue = new ArrayDeque<>();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment memory;
    private final long[] dirtyWords;
    /** Writers hold the read side while writing; a stun takes the write side. */
    private final ReentrantReadWriteLock gate = new ReentrantReadWriteLock();
    private final AtomicLong operations = new AtomicLong();
    private final List<Thread> writers = new ArrayList<>();
    /** The protected set writers must consult before writing, or null when none is open. */
    private volatile Protection protection;
    /**
     * The locks a protected page's first copy is made under, one per stripe of pages. Shared by every
     * protected set (at most one is open at a time), so protecting allocates none inside the stun.
     */
    private final Object[] protectionStripes = java.util.stream.Stream.generate(Object::new)
            .limit(Protection.STRIPES).toArray();
    private volatile boolean running;
    private long stuns;

    private SimSource(SourceSpec spec, int pageCount, Workload workload, Workload.Stable stableShape, boolean zeroFill,
                      int writerCount, long opsPerSecond, long seed, long imageSeed, long outputsPerSecond) {
        this.params = spec.params();
        this.pageCount = pageCount;
        this.workload = workload;
        this.stableShape = stableShape;
        this.zeroFill = zeroFill;
        this.writerCount = writerCount;
        this.opsPerSecond = opsPerSecond;
        this.seed = seed;
        this.imageSeed = imageSeed;
        this.outputsPerSecond = outputsPerSecond;
        this.memory = AnonymousMemory.allocate((long) pageCount * PAGE_SIZE, PAGE_SIZE, arena);
        this.dirtyWords = new long[(pageCount + 63) / 64];
        markAllDirty();
    }

    public static SimSource open(SourceSpec spec) {
        SimSource source = create(spec);
        source.fillInitialContent();
        return source;
    }

    /**
     * A sim guest that starts from a checkpoint instead of fresh content: its memory is {@code memory}
     * (as long as the spec's {@code mem}) and its counters come from {@link Stun#deviceState()} of the same
     * checkpoint. Its writers then carry on with the spec's workload, on a random stream of their own
     * (derived from the seed and the checkpoint), so the restored guest does not replay its past writes.
     */
    public static SimSource restore(SourceSpec spec, MemorySegment memory, byte[] deviceState) {
        DeviceState state = DeviceState.parse(deviceState);
        SimSource source = create(spec, mixSeed(state.seed(), state.stuns()));
        if (memory.byteSize() != source.memoryBytes()) {
            source.close();
            throw new IllegalArgumentException("memory image has " + memory.byteSize() + " bytes; the spec says mem="
                    + source.memoryBytes());
        }
        MemorySegment.copy(memory, 0, source.memory, 0, memory.byteSize());
        source.operations.set(state.operations());
        source.stuns = state.stuns();
        return source;
    }

    private static SimSource create(SourceSpec spec) {
        return create(spec, null);
    }

    private static SimSource create(SourceSpec spec, Long seedOverride) {
        SourceSpec.Reader reader = spec.reader();
        long pages;
        if (reader.has("pages")) {
            pages = reader.integer("pages", 0, 1, Integer.MAX_VALUE);
        } else {
            long bytes = reader.bytes("mem", 64L << 20, PAGE_SIZE, (long) Integer.MAX_VALUE * PAGE_SIZE);
            if (bytes % PAGE_SIZE != 0) {
                throw new IllegalArgumentException("sim source: mem must be a multiple of " + PAGE_SIZE + " bytes");
            }
            pages = bytes / PAGE_SIZE;
        }
        Workload workload = Workload.parse(reader.string("workload", "mixed"));
        int writers = (int) reader.integer("writers", 1, 1, 64);
        long rate = reader.integer("rate", 40_000, 0, 1_000_000_000);
        long seed = reader.integer("seed", 1, Long.MIN_VALUE, Long.MAX_VALUE);
        long imageSeed = reader.integer("image-seed", seed, Long.MIN_VALUE, Long.MAX_VALUE);
        long outputs = reader.integer("outputs", 100, 0, 100_000);
        Workload.Stable stableShape = new Workload.Stable(
                (int) reader.integer("hot-pages", Workload.Stable.DEFAULT.hotPages(), 1, Integer.MAX_VALUE),
                (int) reader.integer("hot-share", Workload.Stable.DEFAULT.hotSharePercent(), 0, 100));
        boolean zeroFill = switch (reader.string("fill", "random")) {
            case "random" -> false;
            case "zero" -> true;
            default -> throw new IllegalArgumentException("sim source: fill must be random or zero");
        };
        if (pages < 2) {
            throw new IllegalArgumentException("sim source: needs at least 2 pages (the last one holds the output counter)");
        }
        reader.requireAllUsed();
        return new SimSource(spec, (int) pages, workload, stableShape, zeroFill, writers, rate,
                seedOverride == null ? seed : seedOverride, imageSeed, outputs);
    }

    /** A fresh, deterministic seed for the writers of a guest restored from the checkpoint of stun {@code stuns}. */
    private static long mixSeed(long seed, long stuns) {
        long z = seed + (stuns + 1) * 0x9E37_79B9_7F4A_7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58_476D_1CE4_E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D0_49BB_1331_11EBL;
        return z ^ (z >>> 31);
    }

    /** What a sim guest's device state blob holds: magic, write operations so far, stuns so far, seed. */
    private record DeviceState(long operations, long stuns, long seed) {
        static final long MAGIC = 0x4350_5349_4D44_4556L; // "CPSIMDEV"
        static final int BYTES = 32;

        byte[] toBytes() {
            return ByteBuffer.allocate(BYTES).putLong(MAGIC).putLong(operations).putLong(stuns).putLong(seed).array();
        }

        static DeviceState parse(byte[] blob) {
            if (blob == null || blob.length != BYTES) {
                throw new IllegalArgumentException("not a sim device state: expected " + BYTES + " bytes, got "
                        + (blob == null ? "none" : blob.length));
            }
            ByteBuffer buffer = ByteBuffer.wrap(blob);
            if (buffer.getLong() != MAGIC) {
                throw new IllegalArgumentException("not a sim device state: bad magic");
            }
            DeviceState state = new DeviceState(buffer.getLong(), buffer.getLong(), buffer.getLong());
            if (state.operations() < 0 || state.stuns() < 0) {
                throw new IllegalArgumentException("corrupt sim device state: negative counters");
            }
            return state;
        }
    }

    @Override
    public String kind() {
        return "sim";
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

    public Workload workload() {
        return workload;
    }

    /**
     * Changes the write rate while the guest runs (0: unlimited), e.g. to double the dirty rate midway
     * through a benchmark.
     */
    public void setRate(long operationsPerSecond) {
        if (operationsPerSecond < 0) {
            throw new IllegalArgumentException("rate must not be negative");
        }
        this.opsPerSecond = operationsPerSecond;
    }

    /** Write operations performed so far, over all writers. */
    public long operations() {
        return operations.get();
    }

    @Override
    public synchronized void start() {
        if (running) {
            return;
        }
        running = true;
        for (int i = 0; i < writerCount; i++) {
            Workload.Writer writer = new Workload.Writer(workload, memory, PAGE_SIZE, workloadPages(), seed, i,
                    writerCount, stableShape, this::beforeWrite);
            Thread thread = Thread.ofPlatform().daemon().name("sim-writer-" + i).start(() -> runWriter(writer));
            writers.add(thread);
        }
        if (outputsPerSecond > 0) {
            writers.add(Thread.ofPlatform().daemon().name("sim-output").start(this::runOutput));
        }
    }

    /** The value the guest's output counter holds now: the number of outputs it has emitted since boot. */
    public long outputCounter() {
        return memory.get(ValueLayout.JAVA_LONG_UNALIGNED, counterOffset());
    }

    @Override
    public List<GuestOutput> pollOutputs(long maxBytes) {
        synchronized (outputQueue) {
            List<GuestOutput> taken = new ArrayList<>(Math.min(outputQueue.size(), 1024));
            long bytes = 0;
            for (GuestOutput next; (next = outputQueue.peekFirst()) != null
                    && bytes + next.payloadLength() <= maxBytes; ) {
                taken.add(outputQueue.removeFirst());
                bytes += next.payloadLength();
            }
            return taken;
        }
    }

    @Override
    public Stun stun() {
        long begin = System.nanoTime();
        gate.writeLock().lock();
        long stopped = System.nanoTime() - begin;
        stuns++;
        return new SourceStun("guest", stopped) {
            @Override
            public BitSet harvestDirty() {
                requireOpen();
                long[] words = new long[dirtyWords.length];
                for (int i = 0; i < words.length; i++) {
                    words[i] = (long) WORDS.getAndSet(dirtyWords, i, 0L);
                }
                return BitSet.valueOf(words);
            }

            @Override
            public byte[] deviceState() {
                requireOpen();
                // Stands in for vCPU and device state: small, changes every epoch, must arrive intact.
                return new DeviceState(operations.get(), stuns, seed).toBytes();
            }

            @Override
            public ProtectedPages protect(BitSet pages) {
                requireOpen();
                if (protection != null && !protection.closed) {
                    throw new IllegalStateException("the pages protected at an earlier stun are still protected");
                }
                Protection opened = new Protection(pages);
                protection = opened;
                return opened;
            }

            @Override
            protected void release() {
                gate.writeLock().unlock();
            }
        };
    }

    @Override
    public void copyPage(int page, MemorySegment dst, long dstOffset) {
        MemorySegment.copy(memory, (long) page * PAGE_SIZE, dst, dstOffset, PAGE_SIZE);
    }

    @Override
    public Optional<String> protectionUnavailable() {
        return Optional.empty();
    }

    /** Inside a writer's critical section, before it writes {@code page}: the copy-before-write fault path. */
    private void beforeWrite(int page) {
        Protection open = protection;
        if (open != null) {
            open.beforeWrite(page);
        }
    }

    /**
     * Pages protected at one stun. A page's protection bit is cleared only by whoever copied it first,
     * the agent ({@link #copyPage}) or a writer about to change it ({@link #beforeWrite}), under the page's
     * stripe lock; a writer that sees the bit clear may write, since the copy is complete by then.
     */
    private final class Protection implements ProtectedPages {
        private static final int STRIPES = 64;
        private final BitSet pages;
        private final long[] stillProtected;
        private final Object[] stripes = protectionStripes;
        /** Pages the guest wrote before they were copied: their content at the stun. */
        private final Map<Integer, byte[]> saved = new ConcurrentHashMap<>();
        private final BitSet copied = new BitSet();
        private final AtomicLong faults = new AtomicLong();
        private volatile boolean closed;

        Protection(BitSet pages) {
            if (pages.length() > pageCount) {
                throw new IllegalArgumentException("page " + (pages.length() - 1) + " is outside the guest");
            }
            this.pages = (BitSet) pages.clone();
            this.stillProtected = java.util.Arrays.copyOf(pages.toLongArray(), dirtyWords.length);
        }

        private boolean isProtected(int page) {
            return ((long) WORDS.getAcquire(stillProtected, page >>> 6) & (1L << (page & 63))) != 0;
        }

        private void unprotect(int page) {
            WORDS.getAndBitwiseAndRelease(stillProtected, page >>> 6, ~(1L << (page & 63)));
        }

        void beforeWrite(int page) {
            if (!isProtected(page)) {
                return;
            }
            synchronized (stripes[page % STRIPES]) {
                if (isProtected(page)) {
                    byte[] copy = new byte[PAGE_SIZE];
                    MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, (long) page * PAGE_SIZE, copy, 0, PAGE_SIZE);
                    saved.put(page, copy);
                    faults.incrementAndGet();
                    unprotect(page);
                }
            }
        }

        @Override
        public BitSet pages() {
            return pages;
        }

        @Override
        public void copyPage(int page, MemorySegment dst, long dstOffset) {
            if (page < 0 || !pages.get(page)) {
                throw new IllegalArgumentException("page " + page + " was not protected");
            }
            synchronized (stripes[page % STRIPES]) {
                if (closed) {
                    throw new IllegalStateException("the protected pages were released");
                }
                synchronized (copied) {
                    if (copied.get(page)) {
                        throw new IllegalStateException("page " + page + " was copied already");
                    }
                    copied.set(page);
                }
                if (isProtected(page)) {
                    MemorySegment.copy(memory, (long) page * PAGE_SIZE, dst, dstOffset, PAGE_SIZE);
                    unprotect(page);
                } else {
                    MemorySegment.copy(saved.remove(page), 0, dst, ValueLayout.JAVA_BYTE, dstOffset, PAGE_SIZE);
                }
            }
        }

        @Override
        public long cowFaults() {
            return faults.get();
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            for (Object stripe : stripes) {
                synchronized (stripe) {
                    closed = true;
                }
            }
            java.util.Arrays.fill(stillProtected, 0L);
            saved.clear();
            if (protection == this) {
                protection = null;
            }
        }
    }

    @Override
    public void close() {
        running = false;
        for (Thread writer : writers) {
            writer.interrupt();
        }
        for (Thread writer : writers) {
            try {
                writer.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        arena.close();
    }

    private void runWriter(Workload.Writer writer) {
        long next = System.nanoTime();
        while (running) {
            long rate = opsPerSecond == 0 ? 0 : Math.max(1, opsPerSecond / writerCount);
            long interval = rate == 0 ? 0 : 1_000_000_000L / rate;
            if (interval > 0) {
                long now = System.nanoTime();
                if (next > now) {
                    LockSupport.parkNanos(next - now);
                    continue;
                }
                // After a long stun, catch up by at most a millisecond's worth of writes.
                next = Math.max(next, now - MAX_BURST_NANOS) + interval * OPS_PER_SECTION;
            }
            gate.readLock().lock();
            try {
                for (int i = 0; i < OPS_PER_SECTION; i++) {
                    markDirty(writer.step());
                }
            } finally {
                gate.readLock().unlock();
            }
            operations.addAndGet(OPS_PER_SECTION);
        }
    }

    private void runOutput() {
        long interval = 1_000_000_000L / outputsPerSecond;
        long next = System.nanoTime();
        while (running) {
            long now = System.nanoTime();
            if (next > now) {
                LockSupport.parkNanos(next - now);
                continue;
            }
            next = Math.max(next, now - MAX_BURST_NANOS) + interval;
            gate.readLock().lock();
            try {
                synchronized (outputQueue) {
                    if (outputQueue.size() >= MAX_PENDING_OUTPUTS) {
                        continue; // nobody takes the outputs: the guest waits, as on a full transmit ring
                    }
                    long value = outputCounter() + 1;
                    beforeWrite(pageCount - 1);
                    memory.set(ValueLayout.JAVA_LONG_UNALIGNED, counterOffset(), value);
                    markDirty(pageCount - 1);
                    byte[] payload = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array();
                    outputQueue.add(new GuestOutput(stuns + 1, value - 1, payload));
                }
            } finally {
                gate.readLock().unlock();
            }
        }
    }

    private int workloadPages() {
        return pageCount - 1;
    }

    private long counterOffset() {
        return (long) (pageCount - 1) * PAGE_SIZE;
    }

    private void markDirty(int page) {
        WORDS.getAndBitwiseOr(dirtyWords, page >>> 6, 1L << (page & 63));
    }

    private void markAllDirty() {
        for (int page = 0; page < pageCount; page++) {
            markDirty(page);
        }
    }

    /** Mostly random pages, one in eight left zero, so a full sync carries real data and some zeros. */
    private void fillInitialContent() {
        if (zeroFill) {
            return;
        }
        UniformRandomProvider random = RandomSource.XO_SHI_RO_256_PP.create(imageSeed);
        for (int page = 0; page < workloadPages(); page++) {
            if (page % 8 == 7) {
                continue;
            }
            long base = (long) page * PAGE_SIZE;
            for (int i = 0; i < PAGE_SIZE; i += 8) {
                memory.set(ValueLayout.JAVA_LONG_UNALIGNED, base + i, random.nextLong());
            }
        }
    }
}
