package io.cpstream.agent;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.Optional;

/**
 * Gives the calling thread a better CPU share than the guests it protects: on Linux, {@code setpriority} with a
 * thread id sets that one thread's nice value, so the epoch loop and the sender can run at nice {@value #NICE} while
 * the rest of the JVM (and the guests' vCPU threads) stay where they are. On a host whose cores are busy with guests
 * this is what keeps stuns on time: a checkpoint delayed by the scheduler lets the dirty set, the stun and the lag
 * grow together. Raising priority needs {@code CAP_SYS_NICE} (the systemd unit grants it); without it the thread
 * keeps its priority and the agent says so once.
 */
final class ThreadPriority {

    /** The nice value the agent's time-critical threads ask for (0 is the default, -20 the highest). */
    static final int NICE = -10;
    private static final int PRIO_PROCESS = 0;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SETPRIORITY = LINKER.defaultLookup().find("setpriority")
            .map(symbol -> LINKER.downcallHandle(symbol, FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
                    Linker.Option.captureCallState("errno")))
            .orElse(null);
    private static final MethodHandle GETTID = LINKER.defaultLookup().find("gettid")
            .map(symbol -> LINKER.downcallHandle(symbol, FunctionDescriptor.of(JAVA_INT)))
            .orElse(null);

    private ThreadPriority() {
    }

    /**
     * Sets the calling thread's nice value to {@code nice}.
     *
     * @return empty if it took effect, or why not (no permission, not Linux)
     */
    static Optional<String> raiseCurrentThread(int nice) {
        if (SETPRIORITY == null || GETTID == null) {
            return Optional.of("this platform has no per-thread setpriority");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment captured = arena.allocate(CAPTURE);
            int tid = (int) GETTID.invokeExact();
            int result = (int) SETPRIORITY.invokeExact(captured, PRIO_PROCESS, tid, nice);
            if (result == 0) {
                return Optional.empty();
            }
            int errno = (int) ERRNO.get(captured, 0L);
            return Optional.of(errno == 1 || errno == 13
                    ? "not permitted to raise thread priority (grant CAP_SYS_NICE, as the systemd unit does)"
                    : "setpriority failed with errno " + errno);
        } catch (Throwable t) {
            return Optional.of("setpriority failed: " + t);
        }
    }

    /** Nice value of the calling thread, read back (for tests and logs). */
    static int currentNice() {
        try {
            int tid = (int) GETTID.invokeExact();
            return Integer.parseInt(java.nio.file.Files.readString(
                    java.nio.file.Path.of("/proc/self/task/" + tid + "/stat")).replaceFirst("^.*\\) ", "")
                    .split(" ")[16]);
        } catch (Throwable t) {
            throw new IllegalStateException("cannot read this thread's nice value", t);
        }
    }
}
