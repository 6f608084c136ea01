package io.cpstream.tracker.process;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Reads another process's memory with {@code process_vm_readv}: one copy, straight from its pages into
 * ours. Pages that cannot be read (a file mapping past the end of its file, memory the kernel refuses)
 * read as zero, the same way every time, so the image stays a function of the process's state.
 * Not thread-safe: one caller at a time.
 */
final class RemoteMemory implements AutoCloseable {

    private static final long IOVEC_BYTES = 16;

    private final int pid;
    private final int pageSize;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment localIov = arena.allocate(IOVEC_BYTES, 8);
    private final MemorySegment remoteIov = arena.allocate(IOVEC_BYTES, 8);
    private final MemorySegment bounce;
    private long unreadablePages;

    RemoteMemory(int pid, int pageSize) {
        this.pid = pid;
        this.pageSize = pageSize;
        this.bounce = arena.allocate(pageSize, pageSize);
    }

    /** Pages read as zero because the kernel would not give them, since this was created. */
    long unreadablePages() {
        return unreadablePages;
    }

    /** Copies {@code length} bytes (whole pages) from {@code address} in the process into {@code dst}. */
    void read(long address, MemorySegment dst, long dstOffset, long length) {
        if (!dst.isNative()) {
            for (long done = 0; done < length; done += pageSize) {
                read(address + done, bounce, 0, pageSize);
                MemorySegment.copy(bounce, 0, dst, dstOffset + done, pageSize);
            }
            return;
        }
        long got = readv(address, dst, dstOffset, length);
        if (got == length) {
            return;
        }
        // A partial read stops at the first page the kernel would not give: go page by page from there.
        long done = got > 0 ? got - got % pageSize : 0;
        for (; done < length; done += pageSize) {
            if (readv(address + done, dst, dstOffset + done, pageSize) != pageSize) {
                dst.asSlice(dstOffset + done, pageSize).fill((byte) 0);
                unreadablePages++;
            }
        }
    }

    private long readv(long address, MemorySegment dst, long dstOffset, long length) {
        localIov.set(ValueLayout.JAVA_LONG, 0, dst.address() + dstOffset);
        localIov.set(ValueLayout.JAVA_LONG, 8, length);
        remoteIov.set(ValueLayout.JAVA_LONG, 0, address);
        remoteIov.set(ValueLayout.JAVA_LONG, 8, length);
        long result = Libc.processVmReadv(pid, localIov, 1, remoteIov, 1);
        if (result == -Libc.ESRCH) {
            throw new ProcessGoneException(pid);
        }
        if (result == -Libc.EPERM) {
            throw new Libc.ErrnoException("process_vm_readv of process " + pid + " (needs ptrace permission: run "
                    + "as root, or as its user with /proc/sys/kernel/yama/ptrace_scope at 0)", Libc.EPERM);
        }
        return result;
    }

    @Override
    public void close() {
        arena.close();
    }
}
