package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.BitSet;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class PageHistoryTest {

    @Test
    void aWrittenPageStaysHotForTheRecentEpochsThenTurnsStable() {
        PageHistory history = new PageHistory(100, 2);
        BitSet page5 = BitSet.valueOf(new long[] {1L << 5});
        assertEquals(page5, history.stable(page5), "with no history every page is stable");
        history.record(page5);
        assertTrue(history.hot(5));
        assertTrue(history.stable(page5).isEmpty());
        history.record(new BitSet());
        assertTrue(history.hot(5), "written two epochs ago, and the last two make a page hot");
        assertEquals(1, history.epochsSinceWrite(5));
        history.record(new BitSet());
        assertFalse(history.hot(5));
        assertEquals(page5, history.stable(page5));
        assertEquals(1, history.writeCount(5));
    }

    @Test
    void theRegisterForgetsEpochsOlderThanItsWidth() {
        PageHistory history = new PageHistory(8, 1);
        history.record(BitSet.valueOf(new long[] {1L << 3}));
        for (int i = 1; i < PageHistory.EPOCHS; i++) {
            history.record(new BitSet());
        }
        assertEquals(PageHistory.EPOCHS - 1, history.epochsSinceWrite(3));
        history.record(new BitSet());
        assertEquals(0, history.register(3));
        assertEquals(PageHistory.EPOCHS, history.epochsSinceWrite(3));
    }

    /** The word-at-a-time classification of the stun against the definition, page by page. */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 5, 8})
    void stableIsExactlyTheDirtyPagesThatAreNotHot(int recent) {
        int pageCount = 1000; // not a multiple of 8 or 64: the last words are partial
        PageHistory history = new PageHistory(pageCount, recent);
        SplittableRandom random = new SplittableRandom(recent);
        for (int epoch = 0; epoch < 40; epoch++) {
            BitSet dirty = new BitSet();
            double share = random.nextDouble();
            for (int page = 0; page < pageCount; page++) {
                if (random.nextDouble() < share * share) {
                    dirty.set(page);
                }
            }
            history.record(dirty);
            BitSet asked = new BitSet();
            for (int page = 0; page < pageCount + 70; page++) { // a few beyond the guest, which never count
                if (random.nextBoolean()) {
                    asked.set(page);
                }
            }
            BitSet expected = new BitSet();
            for (int page = asked.nextSetBit(0); page >= 0 && page < pageCount; page = asked.nextSetBit(page + 1)) {
                if ((history.register(page) & ((1 << recent) - 1)) == 0) {
                    expected.set(page);
                }
            }
            assertEquals(expected, history.stable(asked), "epoch " + epoch);
        }
    }

    @Test
    void shortRunsOfStablePagesAreLeftToTheStunWhereProtectionCostsPerRun() {
        PageHistory history = new PageHistory(64, 1);
        BitSet pages = new BitSet();
        pages.set(0, 2);   // a run of 2
        pages.set(10, 15); // a run of 5
        pages.set(20);     // a run of 1
        BitSet expected = new BitSet();
        expected.set(10, 15);
        assertEquals(expected, history.stable(pages, 3));
        assertEquals(pages, history.stable(pages, 1));
    }
}
