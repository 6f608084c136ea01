package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class ThreadPriorityTest {

    @Test
    void raisingSetsOnlyTheCallingThreadsNiceValue() throws Exception {
        AtomicReference<Optional<String>> outcome = new AtomicReference<>();
        AtomicReference<Integer> niceAfter = new AtomicReference<>();
        int niceBefore = ThreadPriority.currentNice();
        Thread raised = Thread.ofPlatform().start(() -> {
            outcome.set(ThreadPriority.raiseCurrentThread(ThreadPriority.NICE));
            niceAfter.set(ThreadPriority.currentNice());
        });
        raised.join();
        assumeTrue(outcome.get().isEmpty(), () -> "skipped: " + outcome.get().orElseThrow());
        assertEquals(ThreadPriority.NICE, niceAfter.get(), "the raised thread's nice value");
        assertEquals(niceBefore, ThreadPriority.currentNice(), "the other threads keep theirs");
    }

    @Test
    void aThreadMayAlwaysLowerItsOwnPriority() throws Exception {
        // Lowering needs no capability (raising does), so this holds everywhere: the call reaches the kernel.
        AtomicReference<Optional<String>> lowered = new AtomicReference<>();
        Thread thread = Thread.ofPlatform().start(() -> lowered.set(ThreadPriority.raiseCurrentThread(19)));
        thread.join();
        assertEquals(Optional.empty(), lowered.get());
    }

    @Test
    void aStunsRealTimeWindowEndsBackAtTheThreadsNiceValue() throws Exception {
        AtomicReference<String> refused = new AtomicReference<>();
        AtomicReference<String[]> inside = new AtomicReference<>();
        AtomicReference<String[]> after = new AtomicReference<>();
        AtomicReference<Integer> niceAfter = new AtomicReference<>();
        Thread thread = Thread.ofPlatform().start(() -> {
            ThreadPriority.raiseCurrentThread(ThreadPriority.NICE);
            try (ThreadPriority.Window window = ThreadPriority.realtimeWindow()) {
                refused.set(window.refused());
                inside.set(schedulingOfThisThread());
            }
            after.set(schedulingOfThisThread());
            niceAfter.set(ThreadPriority.currentNice());
        });
        thread.join();
        assumeTrue(refused.get() == null, () -> "skipped: " + refused.get());
        assertEquals("1", inside.get()[1], "SCHED_FIFO inside the window");
        assertEquals(String.valueOf(ThreadPriority.STUN_RT_PRIORITY), inside.get()[0], "its real-time priority");
        assertEquals("0", after.get()[1], "SCHED_OTHER after it");
        assertEquals(ThreadPriority.NICE, niceAfter.get(), "the nice value the thread had before the window");
    }

    /** {rt_priority, policy} of the calling thread, from /proc (fields 40 and 41 of stat). */
    private static String[] schedulingOfThisThread() {
        try {
            String[] fields = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/thread-self/stat"))
                    .replaceFirst("^.*\\) ", "").split(" ");
            return new String[] {fields[37], fields[38]};
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
