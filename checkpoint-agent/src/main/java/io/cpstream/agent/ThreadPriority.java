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
    private static final MethodHandle SCHED_SETSCHEDULER = LINKER.defaultLookup().find("sched_setscheduler")
            .map(symbol -> LINKER.downcallHandle(symbol,
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, java.lang.foreign.ValueLayout.ADDRESS),
                    Linker.Option.captureCallState("errno")))
            .orElse(null);
    private static final int SCHED_OTHER = 0;
    private static final int SCHED_FIFO = 1;
    /**
     * The real-time priority of a stun: the lowest, so it only needs to beat every normal thread (guests, the JIT,
     * the collector's threads on a shared test host), never the kernel's own real-time threads.
     */
    static final int STUN_RT_PRIORITY = 1;
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
        return Optional.ofNullable(callForThisThread(SETPRIORITY, "setpriority", "raise thread priority",
                (arena, captured, tid) -> (int) SETPRIORITY.invokeExact(captured, PRIO_PROCESS, tid, nice)));
    }

    /**
     * A call about the calling thread (by its tid), with errno captured in {@code captured} and any argument memory
     * from {@code arena}; returns its result.
     */
    private interface ThreadCall {
        int invoke(Arena arena, MemorySegment captured, int tid) throws Throwable;
    }

    /**
     * Runs {@code call} for the calling thread. Returns null if it returned 0, else why not: {@code handle} missing
     * (not Linux), no permission (what it needed to do, {@code purpose}), or the errno.
     */
    private static String callForThisThread(MethodHandle handle, String name, String purpose, ThreadCall call) {
        if (handle == null || GETTID == null) {
            return "this platform has no per-thread " + name;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment captured = arena.allocate(CAPTURE);
            if (call.invoke(arena, captured, (int) GETTID.invokeExact()) == 0) {
                return null;
            }
            int errno = (int) ERRNO.get(captured, 0L);
            return errno == 1 || errno == 13
                    ? "not permitted to " + purpose + " (grant CAP_SYS_NICE, as the systemd unit does)"
                    : name + " failed with errno " + errno;
        } catch (Throwable t) {
            return name + " failed: " + t;
        }
    }

    /**
     * Puts the calling thread under {@code SCHED_FIFO} until the returned window closes, then back under the normal
     * policy at the nice value it had. For the stun only: the guest is stopped, and a normal-priority thread can be
     * preempted for milliseconds by any thread the scheduler prefers (measured: a 2.9 ms stun whose thread waited
     * 2.8 ms on the run queue). A stun is short and bounded by the dirty set, so a real-time window cannot starve the
     * host the way a real-time thread that streams or spins could; the kernel's real-time throttling caps even a
     * runaway one. Without permission (no {@code CAP_SYS_NICE}) the window is empty and {@link Window#refused()} says
     * why.
     */
    static Window realtimeWindow() {
        String refused = setScheduler(SCHED_FIFO, STUN_RT_PRIORITY);
        return new Window(refused);
    }

    /** A real-time window of the calling thread; {@link #close()} on the same thread ends it. */
    static final class Window implements AutoCloseable {
        private final String refused;

        private Window(String refused) {
            this.refused = refused;
        }

        /** Why the thread stayed under the normal policy, or null if the window is real-time. */
        String refused() {
            return refused;
        }

        @Override
        public void close() {
            if (refused == null) {
                String failed = setScheduler(SCHED_OTHER, 0);
                if (failed != null) {
                    throw new IllegalStateException("cannot leave the stun's real-time policy: " + failed);
                }
            }
        }
    }

    /** {@code sched_setscheduler} for the calling thread; null on success, else why not. */
    private static String setScheduler(int policy, int priority) {
        return callForThisThread(SCHED_SETSCHEDULER, "sched_setscheduler", "use a real-time policy",
                (arena, captured, tid) -> {
                    MemorySegment param = arena.allocate(JAVA_INT); // struct sched_param
                    param.set(JAVA_INT, 0, priority);
                    return (int) SCHED_SETSCHEDULER.invokeExact(captured, tid, policy, param);
                });
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
