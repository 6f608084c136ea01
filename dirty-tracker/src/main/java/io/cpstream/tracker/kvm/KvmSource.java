package io.cpstream.tracker.kvm;

import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.RecordReplay;
import io.cpstream.tracker.ProtectedPages;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.SourceStun;
import io.cpstream.tracker.Stun;
import io.cpstream.tracker.replay.ExecutionTrace;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A guest of the native shim (src/main/c/shim): a real VM on /dev/kvm, spec
 * {@code kvm:guest=counter,mem=64m,dirty=bitmap} (see {@link KvmConfig} for every parameter), or the same
 * guest on an emulated CPU (Unicorn, loaded by the shim), spec {@code emu:guest=counter,mem=64m}. Both kinds
 * share everything but the CPU: memory layout, boot, ports and channels, stun and resume, output epochs; the
 * emulated one tracks dirty pages as {@code dirty=pagemap} does and has a device state of its own.
 *
 * <p>Dirty tracking is KVM's own (dirty bitmap with manual re-protect, or the per-vCPU dirty ring),
 * plus the pages the VMM writes itself. A stun stops every vCPU thread out of KVM_RUN with no I/O half
 * done, so memory, dirty set and vCPU state are all as of one instant.
 *
 * <p>Copy-before-write ({@link Stun#protect}): userfaultfd write-protect on guest RAM (the shim's
 * protect.c). A vCPU writing a protected page faults; the shim's fault thread saves the page and lets
 * the write go on. Works with {@code dirty=bitmap} and {@code dirty=ring}; {@code dirty=pagemap} uses the
 * one userfaultfd a range may have for its own tracking.
 *
 * <p>Guest output: each record the guest emits is tagged with the epoch it belongs to. Epochs are
 * numbered by stuns: outputs emitted before stun N (and after stun N-1) are in epoch N, so once
 * checkpoint N is committed every output with {@code epoch <= N} may be released. A VM restored from
 * the checkpoint of stun N continues with epoch N+1 and with output indexes right after the last
 * output of the checkpoint.
 */
public final class KvmSource implements MemorySource {

    private final Map<String, String> params;
    private final KvmConfig config;
    private final NativeVm vm;
    private final int pageCount;
    /** Read side: any call into the VM; write side: close, so the VM is never freed under a caller. */
    private final ReentrantReadWriteLock life = new ReentrantReadWriteLock();
    private final Object control = new Object();
    private boolean started;
    private boolean closed;
    private KvmStun openStun;
    /** The client a booted kv guest was given ({@code load=RATE}), started with it; null otherwise. */
    private KvLoad load;
    /** Why copy-before-write cannot work here (probed once), or "" when it can; null until probed. */
    private String protectionProblem;

    private KvmSource(SourceSpec spec, KvmConfig config, NativeVm vm) {
        this.params = spec.params();
        this.config = config;
        this.vm = vm;
        this.pageCount = (int) (config.memBytes() / GuestAbi.PAGE_SIZE);
    }

    /** Creates the VM and boots the guest named in the spec; it runs from {@link #start()} on. */
    public static KvmSource open(SourceSpec spec) {
        KvmConfig config = KvmConfig.parse(spec);
        requireAvailable(config);
        byte[] image = GuestAbi.image(config.guest());
        NativeVm vm = newVm(config);
        try {
            vm.boot(image, config.guestArgs());
        } catch (RuntimeException e) {
            vm.close();
            throw e;
        }
        KvmSource source = new KvmSource(spec, config, vm);
        if (config.kvLoad() > 0) {
            source.load = new KvLoad(source, config.kvLoad(), 0, (id, queued) -> { });
        }
        return source;
    }

    public static KvmSource open(String spec) {
        return open(SourceSpec.parse(spec));
    }

    /**
     * Creates a new VM from a checkpoint: guest memory ({@code memBytes} long) and the
     * {@link Stun#deviceState()} taken at the same stun. {@link #start()} resumes it exactly where the
     * checkpointed guest was stunned. The spec gives mem, vcpus and the dirty mode; they must match
     * the checkpoint (the guest parameters are ignored: they live in the restored memory).
     */
    public static KvmSource restore(SourceSpec spec, MemorySegment memory, byte[] deviceState) {
        KvmConfig config = KvmConfig.parse(spec);
        requireAvailable(config);
        if (memory.byteSize() != config.memBytes()) {
            throw new IllegalArgumentException("memory image has " + memory.byteSize() + " bytes; the spec says mem="
                    + config.memBytes());
        }
        NativeVm vm = newVm(config);
        try {
            MemorySegment.copy(memory, 0, vm.memory(), 0, memory.byteSize());
            vm.markAllDirty();
            vm.loadState(deviceState);
        } catch (RuntimeException e) {
            vm.close();
            throw e;
        }
        return new KvmSource(spec, config, vm);
    }

    public static KvmSource restore(SourceSpec spec, byte[] memory, byte[] deviceState) {
        return restore(spec, MemorySegment.ofArray(memory), deviceState);
    }

    /** As {@link #restore(SourceSpec, MemorySegment, byte[])}, with the memory image in a file. */
    public static KvmSource restore(SourceSpec spec, Path memoryImage, byte[] deviceState) {
        try (Arena arena = Arena.ofConfined();
             FileChannel channel = FileChannel.open(memoryImage, StandardOpenOption.READ)) {
            MemorySegment image = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            return restore(spec, image, deviceState);
        } catch (IOException e) {
            throw new UncheckedIOException("reading memory image " + memoryImage, e);
        }
    }

    /** Fails with the reason when the spec's backend cannot run here (the emulator's library is missing). */
    private static void requireAvailable(KvmConfig config) {
        if (config.backend() == KvmConfig.Backend.EMU) {
            String problem = NativeVm.emulatorProblem();
            if (problem != null) {
                throw new KvmException("the emu source cannot run here: " + problem);
            }
        }
    }

    /**
     * Why the emulated backend ({@code emu:}) cannot run here, or empty if it can: loads Unicorn
     * (libunicorn.so.2) and creates a small guest, which also needs userfaultfd asynchronous write-protect and
     * PAGEMAP_SCAN (Linux 6.7+) for its dirty tracking.
     */
    public static Optional<String> emuUnavailableReason() {
        try {
            KvmLibrary.get();
            String problem = NativeVm.emulatorProblem();
            if (problem != null) {
                return Optional.of(problem);
            }
        } catch (RuntimeException e) {
            return Optional.of(e.getMessage());
        }
        try (KvmSource probe = open("emu:guest=counter,mem=4m")) {
            return Optional.empty();
        } catch (KvmException e) {
            return Optional.of(e.getMessage() + " (kernel " + System.getProperty("os.version") + ")");
        }
    }

    /** Why a source of this kind ({@code kvm} or {@code emu}) cannot run here, or empty if it can. */
    public static Optional<String> unavailableReason(String kind) {
        return switch (KvmConfig.Backend.of(kind)) {
            case KVM -> unavailableReason();
            case EMU -> emuUnavailableReason();
        };
    }

    /** Why the KVM backend cannot run here, or empty if it can. */
    public static Optional<String> unavailableReason() {
        Path kvm = Path.of("/dev/kvm");
        if (!Files.exists(kvm)) {
            return Optional.of("/dev/kvm does not exist: this host has no KVM");
        }
        try (RandomAccessFile ignored = new RandomAccessFile(kvm.toFile(), "rw")) {
            // openable read-write: that is what the shim needs
        } catch (IOException e) {
            return Optional.of("/dev/kvm is not accessible to user " + System.getProperty("user.name") + ": "
                    + e.getMessage() + " (add the user to the kvm group)");
        }
        try {
            KvmLibrary.get();
        } catch (RuntimeException e) {
            return Optional.of(e.getMessage());
        }
        return Optional.empty();
    }

    /**
     * Why {@code dirty=pagemap} (userfaultfd asynchronous write-protect and the PAGEMAP_SCAN ioctl, Linux
     * 6.7+) cannot run here, or empty if it can: tries it on a small VM.
     */
    public static Optional<String> pagemapUnavailableReason() {
        Optional<String> kvm = unavailableReason();
        if (kvm.isPresent()) {
            return kvm;
        }
        try (KvmSource probe = open("kvm:guest=counter,mem=4m,dirty=pagemap")) {
            return Optional.empty();
        } catch (KvmException e) {
            return Optional.of(e.getMessage() + " (kernel " + System.getProperty("os.version") + ")");
        }
    }

    private static NativeVm newVm(KvmConfig config) {
        if (config.backend() == KvmConfig.Backend.EMU) {
            return NativeVm.emulated(config.memBytes());
        }
        return new NativeVm(config.memBytes(), config.vcpus(), config.dirty().nativeCode, config.ringEntries());
    }

    @Override
    public String kind() {
        return config.backend().id;
    }

    @Override
    public Map<String, String> params() {
        return params;
    }

    /** The guest program: counter, kv or memtouch. */
    public String guest() {
        return config.guest().id;
    }

    @Override
    public int pageSize() {
        return GuestAbi.PAGE_SIZE;
    }

    @Override
    public int pageCount() {
        return pageCount;
    }

    @Override
    public void start() {
        synchronized (control) {
            if (started) {
                return;
            }
            withVm(vm::resume);
            started = true;
            if (load != null) {
                load.start();
            }
        }
    }

    @Override
    public KvmStun stun() {
        synchronized (control) {
            if (!started) {
                throw new IllegalStateException("the guest has not been started");
            }
            if (openStun != null) {
                throw new IllegalStateException("the previous stun has not been closed");
            }
            openStun = new KvmStun(withVm(vm::stun));
            return openStun;
        }
    }

    @Override
    public void copyPage(int page, MemorySegment dst, long dstOffset) {
        // Guest RAM lives in a shared arena that close() ends: a late copy fails cleanly, never reads freed memory.
        MemorySegment.copy(vm.memory(), (long) page * GuestAbi.PAGE_SIZE, dst, dstOffset, GuestAbi.PAGE_SIZE);
    }

    @Override
    public Optional<String> protectionUnavailable() {
        synchronized (control) {
            if (protectionProblem == null) {
                String problem = withVm(vm::protectProbe);
                protectionProblem = problem == null ? "" : kind() + " copy-before-write is unavailable: " + problem;
            }
            return protectionProblem.isEmpty() ? Optional.empty() : Optional.of(protectionProblem);
        }
    }

    /**
     * One UFFDIO_WRITEPROTECT per run, each a page-table walk, a TLB shootdown and an MMU-notifier call into
     * KVM (expensive on a nested host), against about a microsecond to copy a page: runs shorter than this
     * are copied inside the stun.
     */
    @Override
    public int protectionMinRun() {
        return 16;
    }

    @Override
    public List<GuestOutput> pollOutputs(long maxBytes) {
        return withVm(() -> vm.drainOutput(maxBytes));
    }

    /**
     * Queues a host-to-guest request (1..{@value GuestAbi#RECORD_MAX} bytes) for the guest's input
     * channel. Returns false if the queue (64 requests) is full. Requests the guest has not fetched
     * are not part of a checkpoint: they were never acknowledged.
     */
    public boolean offerInput(byte[] request) {
        return withVm(() -> vm.input(request));
    }

    /**
     * When the guest emitted output {@code index} (its {@code OUT}), on {@link System#nanoTime()}'s clock (Linux's
     * CLOCK_MONOTONIC, one clock for every process of the host); empty for an output emitted before a restore or
     * more than 4096 outputs ago. What {@code bench --compare-protect} measures output latency from.
     */
    public java.util.OptionalLong outputEmittedNanos(long index) {
        long ns = withVm(() -> vm.outputTime(index));
        return ns == 0 ? java.util.OptionalLong.empty() : java.util.OptionalLong.of(ns);
    }

    /** Text the guest wrote to its console since the last call (diagnostics, not part of any checkpoint). */
    public String drainConsole() {
        return withVm(vm::drainConsole);
    }

    /** Why the guest stopped, if a vCPU hit an error (triple fault, bad port access, failed ioctl). */
    @Override
    public Optional<String> fault() {
        return withVm(vm::fault);
    }

    /**
     * Writes guest memory as the VMM would (e.g. a device model); the pages count as dirty since KVM
     * does not log them.
     */
    public void writeGuestMemory(long guestPhysical, byte[] data) {
        withVm(() -> {
            vm.write(guestPhysical, data);
            return null;
        });
    }

    /** Record/replay of the guest's inputs: an emulated guest has it (a KVM guest has inputs the port hooks miss). */
    @Override
    public Optional<RecordReplay> recordReplay() {
        return config.backend() == KvmConfig.Backend.EMU ? Optional.of(recorder) : Optional.empty();
    }

    private final RecordReplay recorder = new RecordReplay() {
        @Override
        public void record(boolean on) {
            withVm(() -> {
                vm.record(on);
                return null;
            });
        }

        @Override
        public Drained drainEvents(int maxBytes) {
            long[] covered = new long[1];
            byte[] events = withVm(() -> vm.drainEvents(maxBytes, covered));
            return new Drained(events, covered[0]);
        }

        @Override
        public void replay(byte[] events, long end, AtEnd atEnd) {
            withVm(() -> {
                vm.replay(events, end, atEnd.code);
                return null;
            });
        }

        @Override
        public void extendReplay(byte[] events, long end) {
            withVm(() -> {
                vm.replayExtend(events, end);
                return null;
            });
        }

        @Override
        public long portOrdinal() {
            return withVm(vm::rrStatus)[0];
        }

        @Override
        public boolean waitingAtReplayEnd() {
            return withVm(vm::rrStatus)[2] != 0;
        }

        @Override
        public boolean waitingForInput() {
            return withVm(vm::rrStatus)[5] != 0;
        }

        @Override
        public void traceExecution(java.nio.file.Path file, java.util.Set<ExecutionTrace.Kind> kinds) {
            withVm(() -> {
                vm.traceOpen(file.toAbsolutePath().toString(), ExecutionTrace.mask(kinds));
                return null;
            });
        }

        @Override
        public long endTrace() {
            return withVm(vm::traceClose);
        }

        @Override
        public long awaitOutput(long seen, long timeoutNanos) {
            return withVm(() -> vm.awaitOutput(seen, timeoutNanos));
        }

        @Override
        public void wakeOutputWaiter() {
            withVm(vm::wakeOutputWaiter);
        }

        @Override
        public void awaitReplayEnd(java.time.Duration timeout) {
            withVm(() -> {
                vm.waitReplayEnd(Math.max(1, timeout.toMillis()));
                return null;
            });
        }
    };

    @Override
    public void close() {
        if (load != null) {
            load.close();
        }
        Lock lock = life.writeLock();
        lock.lock();
        try {
            if (!closed) {
                closed = true;
                vm.close();
            }
        } finally {
            lock.unlock();
        }
    }

    private void withVm(Runnable action) {
        withVm(() -> {
            action.run();
            return null;
        });
    }

    private <T> T withVm(java.util.function.Supplier<T> action) {
        Lock lock = life.readLock();
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("the " + kind() + " source is closed");
            }
            return action.get();
        } finally {
            lock.unlock();
        }
    }

    /** Pages protected at one stun; the shim decides per page whether the copier or a fault saves it. */
    private final class KvmProtectedPages implements ProtectedPages {
        private final BitSet pages;
        private boolean closed;
        private long faultsAtClose;

        KvmProtectedPages(BitSet pages) {
            this.pages = pages;
        }

        @Override
        public BitSet pages() {
            return pages;
        }

        @Override
        public synchronized void copyPage(int page, MemorySegment dst, long dstOffset) {
            if (page < 0 || !pages.get(page)) {
                throw new IllegalArgumentException("page " + page + " was not protected");
            }
            if (closed) {
                throw new IllegalStateException("the protected pages were released");
            }
            MemorySegment target = dst.asSlice(dstOffset, GuestAbi.PAGE_SIZE);
            if (target.isNative()) {
                withVm(() -> vm.protectedCopy(page, target));
                return;
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment bounce = arena.allocate(GuestAbi.PAGE_SIZE, 8);
                withVm(() -> vm.protectedCopy(page, bounce));
                MemorySegment.copy(bounce, 0, target, 0, GuestAbi.PAGE_SIZE);
            }
        }

        @Override
        public synchronized long cowFaults() {
            return closed ? faultsAtClose : withVm(vm::cowFaults);
        }

        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            faultsAtClose = withVm(vm::cowFaults);
            closed = true;
            withVm(vm::protectRelease);
        }
    }

    /** A stunned KVM guest: every vCPU is out of KVM_RUN until {@link #close()}. */
    public final class KvmStun extends SourceStun {
        private KvmStun(long stopNanos) {
            super("guest", stopNanos);
        }

        @Override
        public BitSet harvestDirty() {
            requireOpen();
            return BitSet.valueOf(withVm(() -> vm.harvest(pageCount)));
        }

        @Override
        public byte[] deviceState() {
            requireOpen();
            return withVm(vm::saveState);
        }

        @Override
        public ProtectedPages protect(BitSet pages) {
            requireOpen();
            if (pages.length() > pageCount) {
                throw new IllegalArgumentException("page " + (pages.length() - 1) + " is outside the guest");
            }
            withVm(() -> vm.protect(pages.toLongArray()));
            return new KvmProtectedPages((BitSet) pages.clone());
        }

        /** Under the VM's control lock, which the source's own close and the next stun also take. */
        @Override
        public void close() {
            synchronized (control) {
                super.close();
            }
        }

        @Override
        protected void release() {
            openStun = null;
            if (!closed) {
                withVm(vm::resume);
            }
        }
    }
}
