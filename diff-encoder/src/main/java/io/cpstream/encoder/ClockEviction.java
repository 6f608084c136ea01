package io.cpstream.encoder;

/**
 * CLOCK (second chance): approximately LRU at one bit a slot and no work on a hit, which matters
 * because a hit happens for every delta-encoded page inside the encoding loop.
 */
public final class ClockEviction implements BaseEvictionPolicy {

    private final boolean[] referenced;
    private int hand;

    public ClockEviction(int slots) {
        referenced = new boolean[slots];
    }

    @Override
    public void inserted(int slot, long page) {
        referenced[slot] = false;
    }

    @Override
    public void accessed(int slot) {
        referenced[slot] = true;
    }

    @Override
    public void removed(int slot) {
        referenced[slot] = false;
    }

    @Override
    public int victim() {
        while (true) {
            int slot = hand;
            hand = hand + 1 == referenced.length ? 0 : hand + 1;
            if (!referenced[slot]) {
                return slot;
            }
            referenced[slot] = false;
        }
    }
}
