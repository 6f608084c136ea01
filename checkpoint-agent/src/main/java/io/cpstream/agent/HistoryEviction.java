package io.cpstream.agent;

import io.cpstream.encoder.BaseEvictionPolicy;

/**
 * Evicts the delta base of the page least likely to be written again soon, by the agent's
 * {@link PageWriteHistory}: among a few slots next to a moving hand, the coldest page (fewest recent writes),
 * then the one written longest ago. Sampling keeps each eviction O(1) inside the encoding loop; the hand
 * makes every slot a candidate in turn, so no base outlives its usefulness by hiding from the sample.
 */
final class HistoryEviction implements BaseEvictionPolicy {

    static final int SAMPLE = 8;

    private final PageWriteHistory history;
    private final int[] pageOfSlot;
    private int hand;

    HistoryEviction(PageWriteHistory history, int slots) {
        this.history = history;
        this.pageOfSlot = new int[slots];
    }

    @Override
    public void inserted(int slot, long page) {
        pageOfSlot[slot] = (int) page;
    }

    @Override
    public void accessed(int slot) {
        // The history already knows: a base is used when its page is written, and that is what it records.
    }

    @Override
    public void removed(int slot) {
        // Nothing to forget: a slot's page is overwritten when the slot is reused.
    }

    @Override
    public int victim() {
        int slots = pageOfSlot.length;
        int best = hand;
        for (int i = 0; i < Math.min(SAMPLE, slots); i++) {
            int slot = (hand + i) % slots;
            if (colder(pageOfSlot[slot], pageOfSlot[best])) {
                best = slot;
            }
        }
        hand = (hand + SAMPLE) % slots;
        return best;
    }

    private boolean colder(int page, int than) {
        int heat = history.heat(page);
        int otherHeat = history.heat(than);
        return heat != otherHeat ? heat < otherHeat : history.age(page) > history.age(than);
    }
}
