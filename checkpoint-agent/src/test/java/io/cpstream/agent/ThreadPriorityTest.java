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
}
