package io.cpstream.encoder;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeltaBaseCacheTest {

    private static final int PAGE = 4096;
    private final Arena arena = Arena.ofAuto();

    private MemorySegment page(int fill) {
        MemorySegment page = arena.allocate(PAGE);
        page.fill((byte) fill);
        return page;
    }

    @Test
    void admitsEveryPageWhileThereIsRoomAndNonCandidatesNeverEvict() {
        try (DeltaBaseCache cache = new DeltaBaseCache(PAGE, 100, 2L * PAGE, ClockEviction::new)) {
            cache.sent(1, page(1), 5);
            assertNotNull(cache.base(1), "an unjudged page is kept on probation");
            assertEquals(5, cache.version(1));
            cache.acceptFeedback(new long[] {2}, new long[] {1, 3});
            assertNotNull(cache.base(1), "a page judged not a candidate keeps its copy while there is room");
            cache.sent(1, page(7), 6);
            assertEquals(-1, cache.base(1).mismatch(page(7)), "and its copy follows what was sent");
            assertEquals(6, cache.version(1));
            cache.sent(2, page(2), 6);
            assertEquals(-1, cache.base(2).mismatch(page(2)));
            assertTrue(cache.isCandidate(2));
            assertFalse(cache.onProbation(2));
            cache.sent(3, page(3), 6);
            assertNull(cache.base(3), "a non-candidate never pushes another base out");
            assertEquals(0, cache.evictions());
            cache.sent(4, page(4), 6);
            assertNotNull(cache.base(4), "a page on probation does");
            assertEquals(1, cache.evictions());
        }
    }

    @Test
    void historyEvictionGivesUpNonCandidatesFirst() {
        PageWriteHistory history = new PageWriteHistory(100);
        DeltaBaseCache[] holder = new DeltaBaseCache[1];
        try (DeltaBaseCache cache = new DeltaBaseCache(PAGE, 100, 4L * PAGE,
                slots -> new HistoryEviction(history, slots, page -> holder[0].worthKeeping(page)))) {
            holder[0] = cache;
            history.advance(1);
            for (int p = 0; p < 4; p++) {
                history.written(p);
                cache.sent(p, page(p), 1);
            }
            // Page 2 is the hottest page, but the collector says it is not worth a delta; the others are candidates.
            for (int e = 2; e < 6; e++) {
                history.advance(e);
                history.written(2);
            }
            cache.acceptFeedback(new long[] {0, 1, 3}, new long[] {2});
            cache.sent(50, page(50), 6);
            assertNull(cache.base(2), "the non-candidate went first, however hot");
            assertNotNull(cache.base(0));
            assertNotNull(cache.base(1));
            assertNotNull(cache.base(3));
            assertNotNull(cache.base(50));
        }
    }

    @Test
    void staysWithinItsBudgetAndEvictsColdPagesFirst() {
        try (DeltaBaseCache cache = new DeltaBaseCache(PAGE, 1000, 4L * PAGE, ClockEviction::new)) {
            assertEquals(4, cache.capacityPages());
            for (int p = 0; p < 4; p++) {
                cache.store(p, page(p), 1);
            }
            cache.base(0);
            cache.base(0);
            for (int p = 10; p < 16; p++) {
                cache.store(p, page(p), 2);
            }
            assertEquals(4, cache.cachedPages());
            assertNotNull(cache.base(0), "the page used most survives a sweep of pages stored once");
            assertEquals(-1, cache.base(0).mismatch(page(0)));
            assertTrue(cache.evictions() > 0);
        }
    }

    @Test
    void resyncDiscardsCopiesOfUncommittedCheckpoints() {
        try (DeltaBaseCache cache = new DeltaBaseCache(PAGE, 10, 10L * PAGE, ClockEviction::new)) {
            cache.store(1, page(1), 4);
            cache.store(2, page(2), 5);
            cache.discardNewerThan(4);
            assertNotNull(cache.base(1));
            assertNull(cache.base(2));
        }
    }

    @Test
    void classifierAndFeedbackReportFirstVerdictsAndChangesOnly() {
        DeltaCandidateClassifier classifier = new DeltaCandidateClassifier(PAGE);
        DeltaFeedback feedback = new DeltaFeedback(10);
        MemorySegment old = page(1);
        MemorySegment slightly = page(1);
        slightly.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 7, (byte) 9);
        MemorySegment entirely = page(2);

        assertEquals(DeltaCandidateClassifier.Decision.CANDIDATE, classifier.classify(old, slightly));
        assertEquals(DeltaCandidateClassifier.Decision.NOT_CANDIDATE, classifier.classify(old, entirely));
        assertEquals(DeltaCandidateClassifier.Decision.NOT_CANDIDATE, classifier.classify(old, page(0)));
        assertEquals(new DeltaCandidateClassifier.Statistics(3, 1, 2, 3), classifier.statistics()); // 2 header bytes + 1

        feedback.note(3, DeltaCandidateClassifier.Decision.CANDIDATE);
        feedback.note(4, DeltaCandidateClassifier.Decision.NOT_CANDIDATE);
        assertEquals(3, feedback.drainCandidates()[0]);
        assertEquals(4, feedback.drainNotCandidates()[0]);
        feedback.note(3, DeltaCandidateClassifier.Decision.CANDIDATE);
        feedback.note(4, DeltaCandidateClassifier.Decision.NOT_CANDIDATE);
        assertFalse(feedback.hasNews(), "repeated verdicts are not news");
        feedback.note(3, DeltaCandidateClassifier.Decision.NOT_CANDIDATE);
        assertEquals(3, feedback.drainNotCandidates()[0]);
    }
}
