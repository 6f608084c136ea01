package io.cpstream.tracker;

import io.cpstream.tracker.replay.ExecutionTrace;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;

/**
 * Record and replay of a guest's non-deterministic inputs, for sources whose guest is deterministic between
 * port accesses (the {@code emu} backend: one emulated vCPU, no interrupts, no timers). Every port access
 * has an ordinal (accesses since boot, kept in the device state), and every input is logged at its
 * ordinal as an event (encoding: {@link io.cpstream.tracker.replay.InputEvents}). A guest restored from a
 * checkpoint and fed the events logged after it runs exactly as the recorded guest did.
 */
public interface RecordReplay {

    /** What the guest does at the end of a replayed log. */
    enum AtEnd {
        /**
         * It waits inside the access the log ends at, before that access has any effect ({@link #awaitReplayEnd}):
         * memory is as just before it; a stun there harvests and copies pages but has no device state (the registers
         * are mid-instruction). The log may be extended.
         */
        WAIT(2),
        /** It goes on with live input. */
        LIVE(0),
        /** It goes on with live input, recording it. */
        RECORD(1);

        public final int code;

        AtEnd(int code) {
            this.code = code;
        }
    }

    /** Recorded events, whole: {@code events} holds every input of a port access below {@code coveredTo}. */
    record Drained(byte[] events, long coveredTo) {
    }

    /** Starts (or stops) logging every input the guest gets. */
    void record(boolean on);

    /** Takes recorded events, at most {@code maxBytes} of them. */
    Drained drainEvents(int maxBytes);

    /** Before the guest starts: feeds it {@code events} for its port accesses below {@code end}, then {@code atEnd}. */
    void replay(byte[] events, long end, AtEnd atEnd);

    /** Appends events to a running replay and moves its end (a guest waiting at the old end goes on). */
    void extendReplay(byte[] events, long end);

    /**
     * Waits until the guest has emitted more than {@code seen} outputs since boot, {@link #wakeOutputWaiter} is
     * called, or {@code timeoutNanos} pass, and returns how many outputs it has emitted (pass that back as
     * {@code seen} next time: an output emitted between two calls then ends the second at once). One waiter at a
     * time. A source without the hook just sleeps.
     */
    default long awaitOutput(long seen, long timeoutNanos) {
        java.util.concurrent.locks.LockSupport.parkNanos(timeoutNanos);
        return seen;
    }

    /** Ends the wait in {@link #awaitOutput} now, or the next one at once. */
    default void wakeOutputWaiter() {
    }

    /** Port accesses the guest made since boot. */
    long portOrdinal();

    /** Whether the guest waits at the end of its replayed log. */
    boolean waitingAtReplayEnd();

    /**
     * Whether the guest waits in its input poll for a request that has not come: idle, its memory unchanging until one
     * does (or a stun ends the wait). What a replay that ends at that poll stops on.
     */
    boolean waitingForInput();

    /** Waits until the guest waits at the end of its log; fails with the guest's fault (e.g. a divergence). */
    void awaitReplayEnd(Duration timeout);

    /**
     * From now on writes every event of {@code kinds} the guest makes to {@code file}, an {@link ExecutionTrace}; the
     * instruction and store hooks slow the guest for the rest of its life, so trace a replay made for it.
     *
     * @throws UnsupportedOperationException a guest that cannot be traced
     */
    default void traceExecution(Path file, Set<ExecutionTrace.Kind> kinds) {
        throw new UnsupportedOperationException("this guest cannot write an execution trace");
    }

    /** Ends the trace {@link #traceExecution} began; returns how many events it holds. */
    default long endTrace() {
        throw new UnsupportedOperationException("this guest cannot write an execution trace");
    }
}
