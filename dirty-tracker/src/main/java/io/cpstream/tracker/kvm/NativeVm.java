package io.cpstream.tracker.kvm;

import io.cpstream.tracker.GuestOutput;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One VM of the native shim, as plain Java calls: each method allocates what the call needs (the output and event
 * drains, which run for every output, reuse buffers of their own), invokes it and turns a failure into a {@link
 * KvmException} with the shim's reason. Not thread-safe
 * for lifecycle calls; {@link KvmSource} serialises them and guarantees nothing runs after {@link #close()}.
 */
final class NativeVm implements AutoCloseable {

    private static final long DRAIN_CHUNK = 256 * 1024;
    /** u64 epoch, u64 index, u32 length, before each drained output record (CPS_OUT_HEADER in the shim). */
    private static final int OUTPUT_HEADER = 20;

    private final KvmLibrary lib = KvmLibrary.get();
    private final MemorySegment handle;
    /** Guest RAM; tied to a shared arena so that access after close fails cleanly instead of crashing. */
    private final Arena memoryArena = Arena.ofShared();
    private final MemorySegment memory;
    /**
     * The buffers output and input events are drained into, allocated once and reused. A fresh one per call was a
     * zeroed allocation of 256 KiB (outputs) and 512 KiB (events) each time the recorder looked, once per guest
     * output and every half millisecond, and each time a stun took the outputs: about 30 µs of memset before a
     * recorded output's chunk could leave (bench --compare-protect, the recorder's stages timed).
     */
    private final DrainBuffer outputDrain = new DrainBuffer();
    private final DrainBuffer eventDrain = new DrainBuffer();

    /** A native buffer kept for one kind of drain; callers hold its monitor while they use it. */
    private final class DrainBuffer {
        private MemorySegment segment;

        /** At least {@code bytes} (8-aligned), the same one while it is large enough. */
        MemorySegment atLeast(long bytes) {
            if (segment == null || segment.byteSize() < bytes) {
                // Grows only to the largest drain asked for (a constant in practice); the arena frees it at close.
                segment = memoryArena.allocate(Math.max(1, bytes), 8);
            }
            return segment;
        }
    }

    NativeVm(long memBytes, int vcpus, int dirtyMode, int ringEntries) {
        this(false, memBytes, vcpus, dirtyMode, ringEntries);
    }

    /** A guest whose vCPU is emulated (Unicorn) rather than run by KVM; dirty pages by pagemap. */
    static NativeVm emulated(long memBytes) {
        return new NativeVm(true, memBytes, 1, 2, 0);
    }

    /** Why the emulated backend cannot run here (libunicorn.so.2 missing or unusable), or null. */
    static String emulatorProblem() {
        KvmLibrary lib = KvmLibrary.get();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            int rc = (int) lib.emuAvailable.invokeExact(err, KvmLibrary.ERR_LEN);
            return rc == 0 ? null : err.getString(0);
        } catch (Throwable t) {
            throw rethrow("probing the emulator", t);
        }
    }

    private NativeVm(boolean emulated, long memBytes, int vcpus, int dirtyMode, int ringEntries) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            MemorySegment vm = emulated
                    ? (MemorySegment) lib.createEmu.invokeExact(memBytes, err, KvmLibrary.ERR_LEN)
                    : (MemorySegment) lib.create.invokeExact(memBytes, vcpus, dirtyMode, ringEntries, err,
                            KvmLibrary.ERR_LEN);
            if (vm.equals(MemorySegment.NULL)) {
                throw new KvmException("creating the VM failed: " + err.getString(0));
            }
            this.handle = vm;
            MemorySegment base = (MemorySegment) lib.memory.invokeExact(vm);
            this.memory = base.reinterpret(memBytes, memoryArena, null);
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("creating the VM", t);
        }
    }

    MemorySegment memory() {
        return memory;
    }

    void boot(byte[] image, long[] args) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            MemorySegment img = arena.allocateFrom(JAVA_BYTE, image);
            MemorySegment argv = arena.allocateFrom(JAVA_LONG, args);
            int rc = (int) lib.boot.invokeExact(handle, img, (long) image.length, argv, args.length, err, KvmLibrary.ERR_LEN);
            check(rc, err, "booting the guest");
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("booting the guest", t);
        }
    }

    /** Writes guest memory as the VMM (marks the pages dirty). */
    void write(long gpa, byte[] data) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            MemorySegment src = arena.allocateFrom(JAVA_BYTE, data);
            int rc = (int) lib.write.invokeExact(handle, gpa, src, (long) data.length, err, KvmLibrary.ERR_LEN);
            check(rc, err, "writing guest memory");
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("writing guest memory", t);
        }
    }

    void markAllDirty() {
        try {
            lib.markAllDirty.invokeExact(handle);
        } catch (Throwable t) {
            throw rethrow("marking memory dirty", t);
        }
    }

    void resume() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            check((int) lib.resume.invokeExact(handle, err, KvmLibrary.ERR_LEN), err, "resuming the guest");
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("resuming the guest", t);
        }
    }

    /**
     * Stops every vCPU; returns how long that took, in nanoseconds. The shim also reports the epoch the stun
     * sealed and the output count, which nothing reads here: the device state's header carries both.
     */
    long stun() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            MemorySegment out = arena.allocate(JAVA_LONG, 3);
            int rc = (int) lib.stun.invokeExact(handle, out, out.asSlice(8), out.asSlice(16), err, KvmLibrary.ERR_LEN);
            check(rc, err, "stunning the guest");
            return out.getAtIndex(JAVA_LONG, 0);
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("stunning the guest", t);
        }
    }

    long[] harvest(int pages) {
        int words = (pages + 63) / 64;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            MemorySegment bitmap = arena.allocate(JAVA_LONG, words);
            int rc = (int) lib.harvest.invokeExact(handle, bitmap, (long) words, err, KvmLibrary.ERR_LEN);
            check(rc, err, "harvesting the dirty log");
            return bitmap.toArray(JAVA_LONG);
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("harvesting the dirty log", t);
        }
    }

    byte[] saveState() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            long max = (long) lib.stateMax.invokeExact(handle);
            MemorySegment buf = arena.allocate(max, 8);
            MemorySegment len = arena.allocate(JAVA_LONG);
            int rc = (int) lib.saveState.invokeExact(handle, buf, max, len, err, KvmLibrary.ERR_LEN);
            check(rc, err, "saving vCPU state");
            return buf.asSlice(0, len.get(JAVA_LONG, 0)).toArray(JAVA_BYTE);
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("saving vCPU state", t);
        }
    }

    void loadState(byte[] state) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            MemorySegment buf = arena.allocate(Math.max(1, state.length), 8);
            MemorySegment.copy(state, 0, buf, JAVA_BYTE, 0, state.length);
            int rc = (int) lib.loadState.invokeExact(handle, buf, (long) state.length, err, KvmLibrary.ERR_LEN);
            check(rc, err, "restoring vCPU state");
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("restoring vCPU state", t);
        }
    }

    boolean input(byte[] request) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            MemorySegment data = arena.allocateFrom(JAVA_BYTE, request);
            int rc = (int) lib.input.invokeExact(handle, data, request.length, err, KvmLibrary.ERR_LEN);
            if (rc < 0) {
                throw new KvmException("queueing guest input failed: " + err.getString(0));
            }
            return rc == 1;
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("queueing guest input", t);
        }
    }

    /** Takes output records while their headers and payloads fit in {@code maxBytes} (a little stricter than payload alone). */
    List<GuestOutput> drainOutput(long maxBytes) {
        List<GuestOutput> outputs = new ArrayList<>();
        try {
            synchronized (outputDrain) {
                drainOutputInto(outputDrain.atLeast(DRAIN_CHUNK), maxBytes, outputs);
            }
        } catch (Throwable t) {
            throw rethrow("draining guest output", t);
        }
        return outputs;
    }

    private void drainOutputInto(MemorySegment buf, long maxBytes, List<GuestOutput> outputs) throws Throwable {
        long left = maxBytes;
        long used;
        long cap;
        do {
            cap = Math.min(DRAIN_CHUNK, left);
            if (cap <= OUTPUT_HEADER) {
                break;
            }
            used = (long) lib.drainOutput.invokeExact(handle, buf, cap);
            left -= used;
            long off = 0;
            while (off < used) {
                long epoch = buf.get(JAVA_LONG_UNALIGNED, off);
                long index = buf.get(JAVA_LONG_UNALIGNED, off + 8);
                int len = buf.get(JAVA_INT_UNALIGNED, off + 16);
                byte[] payload = buf.asSlice(off + 20, len).toArray(JAVA_BYTE);
                outputs.add(new GuestOutput(epoch, index, payload));
                off += 20 + len;
            }
            // Room was left for a record of any length: the shim held no more.
        } while (used > 0 && used + OUTPUT_HEADER + GuestAbi.RECORD_MAX > cap);
    }

    /** When output {@code index} was emitted ({@code System.nanoTime()}'s clock), or 0 if this VM no longer knows. */
    long outputTime(long index) {
        try {
            return (long) lib.outputTime.invokeExact(handle, index);
        } catch (Throwable t) {
            throw rethrow("reading an output's emission time", t);
        }
    }

    /**
     * Waits until more than {@code seen} outputs were emitted, {@link #wakeOutputWaiter}, or the timeout; returns how
     * many were.
     */
    long awaitOutput(long seen, long timeoutNanos) {
        try {
            return (long) lib.awaitOutput.invokeExact(handle, seen, timeoutNanos);
        } catch (Throwable t) {
            throw rethrow("waiting for guest output", t);
        }
    }

    void wakeOutputWaiter() {
        try {
            lib.wakeOutputWaiter.invokeExact(handle);
        } catch (Throwable t) {
            throw rethrow("waking the output waiter", t);
        }
    }

    String drainConsole() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(64 * 1024);
            long n = (long) lib.drainConsole.invokeExact(handle, buf, buf.byteSize());
            return new String(buf.asSlice(0, n).toArray(JAVA_BYTE), java.nio.charset.StandardCharsets.UTF_8);
        } catch (Throwable t) {
            throw rethrow("draining the guest console", t);
        }
    }

    /** The reason the guest stopped on an error, if it did. */
    Optional<String> fault() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            int rc = (int) lib.check.invokeExact(handle, err, KvmLibrary.ERR_LEN);
            return rc == 0 ? Optional.empty() : Optional.of(err.getString(0));
        } catch (Throwable t) {
            throw rethrow("checking the guest", t);
        }
    }

    /** Sets up copy-before-write now; returns why it cannot work here, or null when it can. */
    String protectProbe() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            int rc = (int) lib.protectProbe.invokeExact(handle, err, KvmLibrary.ERR_LEN);
            return rc == 0 ? null : err.getString(0);
        } catch (Throwable t) {
            throw rethrow("setting up copy-before-write", t);
        }
    }

    /** While stunned: write-protects the pages of {@code bitmap} (bit n = page n). */
    void protect(long[] bitmap) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            MemorySegment bits = arena.allocateFrom(JAVA_LONG, bitmap.length == 0 ? new long[1] : bitmap);
            int rc = (int) lib.protect.invokeExact(handle, bits, (long) bitmap.length, err, KvmLibrary.ERR_LEN);
            check(rc, err, "write-protecting pages");
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("write-protecting pages", t);
        }
    }

    /** Copies a protected page as it was at the stun into {@code dst} (native, one page) and lifts its protection. */
    void protectedCopy(long page, MemorySegment dst) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            int rc = (int) lib.protectedCopy.invokeExact(handle, page, dst, err, KvmLibrary.ERR_LEN);
            check(rc, err, "copying protected page " + page);
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("copying a protected page", t);
        }
    }

    void protectRelease() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            check((int) lib.protectRelease.invokeExact(handle, err, KvmLibrary.ERR_LEN), err, "releasing protected pages");
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("releasing protected pages", t);
        }
    }

    long cowFaults() {
        try {
            return (long) lib.cowFaults.invokeExact(handle);
        } catch (Throwable t) {
            throw rethrow("reading copy-before-write faults", t);
        }
    }

    /** Starts or stops logging the guest's inputs (record/replay, emulated guests only). */
    void record(boolean on) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            check((int) lib.record.invokeExact(handle, on ? 1 : 0, err, KvmLibrary.ERR_LEN), err, "recording inputs");
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("recording inputs", t);
        }
    }

    /** Takes whole recorded events, at most {@code maxBytes}; {@code covered} gets the ordinal everything below is in. */
    byte[] drainEvents(int maxBytes, long[] covered) {
        try {
            synchronized (eventDrain) {
                // The ordinal's slot first, then the events: one kept segment for both.
                return drainEventsInto(eventDrain.atLeast(JAVA_LONG.byteSize() + maxBytes), maxBytes, covered);
            }
        } catch (Throwable t) {
            throw rethrow("draining recorded events", t);
        }
    }

    private byte[] drainEventsInto(MemorySegment kept, int maxBytes, long[] covered) throws Throwable {
        MemorySegment end = kept.asSlice(0, JAVA_LONG.byteSize());
        MemorySegment buf = kept.asSlice(JAVA_LONG.byteSize(), maxBytes);
        long used = (long) lib.drainEvents.invokeExact(handle, buf, (long) maxBytes, end);
        covered[0] = end.get(JAVA_LONG, 0);
        return buf.asSlice(0, used).toArray(JAVA_BYTE);
    }

    void replay(byte[] events, long end, int then) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            MemorySegment buf = arena.allocateFrom(JAVA_BYTE, events.length == 0 ? new byte[1] : events);
            check((int) lib.replay.invokeExact(handle, buf, (long) events.length, end, then, err, KvmLibrary.ERR_LEN),
                    err, "starting the replay");
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("starting the replay", t);
        }
    }

    void replayExtend(byte[] events, long end) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            MemorySegment buf = arena.allocateFrom(JAVA_BYTE, events.length == 0 ? new byte[1] : events);
            check((int) lib.replayExtend.invokeExact(handle, buf, (long) events.length, end, err, KvmLibrary.ERR_LEN),
                    err, "extending the replay");
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("extending the replay", t);
        }
    }

    void traceOpen(String path, int kinds) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            check((int) lib.xtraceOpen.invokeExact(handle, arena.allocateFrom(path), kinds, err, KvmLibrary.ERR_LEN),
                    err, "starting the execution trace");
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("starting the execution trace", t);
        }
    }

    long traceClose() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            MemorySegment records = arena.allocate(JAVA_LONG);
            check((int) lib.xtraceClose.invokeExact(handle, records, err, KvmLibrary.ERR_LEN), err,
                    "ending the execution trace");
            return records.get(JAVA_LONG, 0);
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("ending the execution trace", t);
        }
    }

    /** [port ordinal, mode, waiting at the end (0/1), replay end, undrained event bytes, waiting for input (0/1)]. */
    long[] rrStatus() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG, 6);
            lib.rrStatus.invokeExact(handle, out);
            return out.toArray(JAVA_LONG);
        } catch (Throwable t) {
            throw rethrow("reading the record/replay status", t);
        }
    }

    void waitReplayEnd(long timeoutMillis) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(KvmLibrary.ERR_LEN);
            check((int) lib.waitReplayEnd.invokeExact(handle, timeoutMillis, err, KvmLibrary.ERR_LEN), err,
                    "replaying to the end of the log");
        } catch (KvmException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow("waiting for the replay", t);
        }
    }

    /** Stops the vCPU threads and frees the VM. Guest memory is unreachable from Java before it is unmapped. */
    @Override
    public void close() {
        memoryArena.close();
        try {
            lib.destroy.invokeExact(handle);
        } catch (Throwable t) {
            throw rethrow("destroying the VM", t);
        }
    }

    private static void check(int rc, MemorySegment err, String what) {
        if (rc != 0) {
            throw new KvmException(what + " failed: " + err.getString(0));
        }
    }

    private static RuntimeException rethrow(String what, Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new KvmException(what + " failed", t);
    }
}
