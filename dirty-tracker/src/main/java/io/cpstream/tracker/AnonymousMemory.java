package io.cpstream.tracker;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Large off-heap buffers mapped straight from the kernel ({@code mmap}), advised to use transparent huge
 * pages, and not zeroed a second time (only touched once, so that they are faulted in before use).
 *
 * <p>Why not {@link Arena#allocate}: that zeroes the memory in Java after the kernel already handed out
 * zeroed pages, and it faults the buffer in 4 KiB at a time. Where the first touch of a page is expensive
 * (measured 10 µs per 4 KiB page in a Firecracker guest, where every fault traps to the hypervisor) a
 * 256 MiB staging buffer cost 3.4 s of a full sync that way. With {@code MADV_HUGEPAGE} one fault maps
 * 2 MiB (2.5-4 µs per 4 KiB there), and the pages the kernel zeroed are used as they are.
 *
 * <p>Falls back to {@link Arena#allocate} where {@code mmap} cannot be bound or fails; huge pages are
 * advice only (a kernel with transparent huge pages off maps 4 KiB pages, still zeroed once).
 */
public final class AnonymousMemory {

    private static final int PROT_READ_WRITE = 0x1 | 0x2;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
    private static final int MADV_HUGEPAGE = 14;
    private static final long HUGE_PAGE = 2L << 20;
    /** Below this a buffer cannot hold one huge page; the plain allocator is as good. */
    private static final long SMALLEST_MAPPED = HUGE_PAGE;

    private static final Optional<Calls> CALLS = bind();

    private record Calls(MethodHandle mmap, MethodHandle madvise, MethodHandle munmap) {
    }

    private AnonymousMemory() {
    }

    /**
     * {@code bytes} of zeroed memory aligned to {@code alignment} (at most 2 MiB), unmapped when
     * {@code arena} closes.
     */
    public static MemorySegment allocate(long bytes, long alignment, Arena arena) {
        if (bytes < SMALLEST_MAPPED || alignment > HUGE_PAGE || CALLS.isEmpty()) {
            return arena.allocate(bytes, alignment);
        }
        Calls calls = CALLS.get();
        // Map one huge page more than asked, so the buffer can start on a 2 MiB boundary: only aligned
        // 2 MiB ranges can be backed by huge pages.
        long mappedBytes = bytes + HUGE_PAGE;
        MemorySegment mapped;
        try {
            mapped = (MemorySegment) calls.mmap().invokeExact(MemorySegment.NULL, mappedBytes, PROT_READ_WRITE,
                    MAP_PRIVATE_ANONYMOUS, -1, 0L);
        } catch (Throwable t) {
            throw new IllegalStateException("mmap of " + mappedBytes + " bytes failed", t);
        }
        if (mapped.address() == -1L) {
            return arena.allocate(bytes, alignment); // out of address space or a seccomp filter: let Java try
        }
        long start = (mapped.address() + HUGE_PAGE - 1) & -HUGE_PAGE;
        MemorySegment buffer = MemorySegment.ofAddress(start).reinterpret(bytes, arena,
                ignored -> unmap(calls, mapped.address(), mappedBytes));
        try {
            int ignored = (int) calls.madvise().invokeExact(buffer, bytes, MADV_HUGEPAGE);
        } catch (Throwable t) {
            throw new IllegalStateException("madvise failed", t);
        }
        faultIn(buffer);
        return buffer;
    }

    /**
     * Touches every 4 KiB page now, as {@link Arena#allocate} did by zeroing: a staging buffer reserved before a stun
     * and first written inside it would take its page faults with the guest stopped (a 580 ms stun for a fresh
     * 256 MiB buffer, measured).
     */
    private static void faultIn(MemorySegment buffer) {
        for (long offset = 0; offset < buffer.byteSize(); offset += 4096) {
            buffer.set(ValueLayout.JAVA_BYTE, offset, (byte) 0);
        }
    }

    private static void unmap(Calls calls, long address, long bytes) {
        try {
            int ignored = (int) calls.munmap().invokeExact(MemorySegment.ofAddress(address), bytes);
        } catch (Throwable t) {
            throw new IllegalStateException("munmap failed", t);
        }
    }

    private static Optional<Calls> bind() {
        try {
            Linker linker = Linker.nativeLinker();
            var libc = linker.defaultLookup();
            MethodHandle mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(),
                    FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
            MethodHandle madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
            MethodHandle munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
            return Optional.of(new Calls(mmap, madvise, munmap));
        } catch (RuntimeException | LinkageError e) {
            return Optional.empty(); // not Linux, or native access denied: Arena.allocate it is
        }
    }
}
