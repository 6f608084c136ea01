package io.cpstream.encoder;

import java.util.function.LongPredicate;

/**
 * Evicts the delta base of the page least worth keeping: among a few slots next to a moving hand, a page the
 * collector's feedback judged not a delta candidate before any other, then the coldest page by the
 * {@link PageWriteHistory} (fewest recent writes), then the one written longest ago. Sampling keeps each eviction
 * O(1) inside the encoding loop; the hand makes every slot a candidate in turn, so no base outlives its usefulness
 * by hiding from the sample.
 *
 * <p>This is what lets the {@link DeltaBaseCache} admit a base for every page it sends while it has room (as XBZRLE
 * does): feedback and history decide what leaves when it is full, not what gets in.
 */
public final class HistoryEviction implements BaseEvictionPolicy {

    static final int SAMPLE = 8;

    private final PageWriteHistory history;
    /** True for pages whose base should outlive the others' (the collector's delta candidates). */
    private final LongPredicate preferred;
    private final int[] pageOfSlot;
    private int hand;

    /** Eviction by history alone. */
    public HistoryEviction(PageWriteHistory history, int slots) {
        this(history, slots, page -> false);
    }

    /** @param preferred pages to keep before any other, whatever their history (delta candidates) */
    public HistoryEviction(PageWriteHistory history, int slots, LongPredicate preferred) {
        this.history = history;
        this.preferred = preferred;
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
        for (int i = 1; i < Math.min(SAMPLE, slots); i++) {
            int slot = (hand + i) % slots;
            if (lessWorth(pageOfSlot[slot], pageOfSlot[best])) {
                best = slot;
            }
        }
        hand = (hand + SAMPLE) % slots;
        return best;
    }

    private boolean lessWorth(int page, int than) {
        boolean keep = preferred.test(page);
        if (keep != preferred.test(than)) {
            return !keep;
        }
        int heat = history.heat(page);
        int otherHeat = history.heat(than);
        return heat != otherHeat ? heat < otherHeat : history.age(page) > history.age(than);
    }
}
