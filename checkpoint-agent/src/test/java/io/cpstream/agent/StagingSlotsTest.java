package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.BitSet;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class StagingSlotsTest {

    @Test
    void aPagesSlotIsItsRankAmongThePlannedPages() {
        SplittableRandom random = new SplittableRandom(7);
        for (int round = 0; round < 50; round++) {
            BitSet planned = randomPlan(random);
            StagingSlots slots = new StagingSlots(planned);
            int rank = 0;
            for (int page = planned.nextSetBit(0); page >= 0; page = planned.nextSetBit(page + 1)) {
                assertEquals(rank++, slots.slot(page), "page " + page);
            }
        }
    }

    @Test
    void thePagesFromASlotOnAreExactlyThoseRankedThereOrLater() {
        SplittableRandom random = new SplittableRandom(11);
        for (int round = 0; round < 50; round++) {
            BitSet planned = randomPlan(random);
            StagingSlots slots = new StagingSlots(planned);
            int from = random.nextInt(planned.cardinality() + 2);
            BitSet expected = new BitSet();
            for (int page = planned.nextSetBit(0); page >= 0; page = planned.nextSetBit(page + 1)) {
                if (slots.slot(page) >= from) {
                    expected.set(page);
                }
            }
            assertEquals(expected, slots.fromSlot(from), "from slot " + from);
        }
    }

    @Test
    void aPageOutsideThePlanHasNoSlot() {
        BitSet planned = new BitSet();
        planned.set(3);
        planned.set(70);
        StagingSlots slots = new StagingSlots(planned);
        assertEquals(1, slots.slot(70));
        assertThrows(IllegalArgumentException.class, () -> slots.slot(4));
        assertThrows(IllegalArgumentException.class, () -> slots.slot(200));
        assertThrows(IllegalArgumentException.class, () -> slots.slot(-1));
    }

    /** Up to 5000 pages, each planned with a share drawn per plan, from sparse to nearly all. */
    private static BitSet randomPlan(SplittableRandom random) {
        BitSet planned = new BitSet();
        int pages = 1 + random.nextInt(5000);
        double share = random.nextDouble();
        for (int page = 0; page < pages; page++) {
            if (random.nextDouble() < share) {
                planned.set(page);
            }
        }
        return planned;
    }
}
