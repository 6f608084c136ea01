package io.cpstream.tracker.process;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The three libc calls the process source needs, bound with the FFM API: {@code kill} (the JDK can
 * send only SIGTERM and SIGKILL), {@code process_vm_readv} (one copy from another process's memory)
 * and {@code strerror}. Each call captures {@code errno} so failures say what went wrong.
 */
final class Libc {

    /** Linux x86-64 and arm64 signal numbers. */
    static final int SIGCONT = 18;
    static final int SIGSTOP = 19;
    static final int ESRCH = 3;
    static final int EFAULT = 14;
    static final int EPERM = 1;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private static final MethodHandle KILL = LINKER.downcallHandle(symbol("kill"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), CAPTURE_ERRNO);
    private static final MethodHandle PROCESS_VM_READV = LINKER.downcallHandle(symbol("process_vm_readv"),
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG),
            CAPTURE_ERRNO);
    private static final MethodHandle STRERROR = LINKER.downcallHandle(symbol("strerror"),
            FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private Libc() {
    }

    /** A native failure with its errno. */
    static final class ErrnoException extends RuntimeException {
        private final int errno;

        ErrnoException(String call, int errno) {
            super(call + ": " + strerror(errno) + " (errno " + errno + ")");
            this.errno = errno;
        }

        int errno() {
            return errno;
        }
    }

    /** Per-thread scratch for the captured errno, so calls need no allocation. */
    private static final ThreadLocal<MemorySegment> CAPTURED =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));

    static void kill(int pid, int signal) {
        MemorySegment captured = CAPTURED.get();
        int result;
        try {
            result = (int) KILL.invokeExact(captured, pid, signal);
        } catch (Throwable t) {
            throw new IllegalStateException("kill failed", t);
        }
        if (result != 0) {
            throw new ErrnoException("kill(" + pid + ", " + signal + ")", (int) ERRNO.get(captured, 0L));
        }
    }

    /**
     * {@code process_vm_readv(pid, local, localCount, remote, remoteCount, 0)}: returns the bytes read,
     * or minus errno.
     */
    static long processVmReadv(int pid, MemorySegment localIov, long localCount, MemorySegment remoteIov,
                               long remoteCount) {
        MemorySegment captured = CAPTURED.get();
        long result;
        try {
            result = (long) PROCESS_VM_READV.invokeExact(captured, pid, localIov, localCount, remoteIov, remoteCount,
                    0L);
        } catch (Throwable t) {
            throw new IllegalStateException("process_vm_readv failed", t);
        }
        return result >= 0 ? result : -(int) ERRNO.get(captured, 0L);
    }

    static String strerror(int errno) {
        try {
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return text.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    private static MemorySegment symbol(String name) {
        return LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
    }
}
