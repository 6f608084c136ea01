package io.cpstream.encoder;

/**
 * Generalised CLOCK: each slot has a small use count, raised on every use (up to {@link #MAX_COUNT}) and
 * lowered as the hand passes; the hand evicts the first slot at zero. Like CLOCK it costs nothing on a hit,
 * which matters because a hit happens for every delta-encoded page inside the encoding loop; unlike plain
 * CLOCK it remembers frequency, so a hot page survives a sweep of pages written once (a guest's long tail).
 */
public final class ClockEviction implements BaseEvictionPolicy {

    static final int MAX_COUNT = 3;

    private final byte[] useCount;
    private int hand;

    public ClockEviction(int slots) {
        useCount = new byte[slots];
    }

    @Override
    public void inserted(int slot, long page) {
        useCount[slot] = 0;
    }

    @Override
    public void accessed(int slot) {
        if (useCount[slot] < MAX_COUNT) {
            useCount[slot]++;
        }
    }

    @Override
    public void removed(int slot) {
        useCount[slot] = 0;
    }

    @Override
    public int victim() {
        while (true) {
            int slot = hand;
            hand = hand + 1 == useCount.length ? 0 : hand + 1;
            if (useCount[slot] == 0) {
                return slot;
            }
            useCount[slot]--;
        }
    }
}
