package io.cpstream.encoder;

/**
 * Decides which base copy the {@link DeltaBaseCache} gives up when it is full. The cache tells the
 * policy what happens to each slot; the policy only answers {@link #victim()}. The default is
 * {@link ClockEviction}; a policy driven by the per-page modification history (evict the pages least
 * likely to be written again soon) plugs in here.
 */
public interface BaseEvictionPolicy {

    /** Slot {@code slot} now holds the base of page {@code page}. */
    void inserted(int slot, long page);

    /** The base in slot {@code slot} was used for a delta or refreshed. */
    void accessed(int slot);

    /** Slot {@code slot} was emptied by the cache (not by eviction). */
    void removed(int slot);

    /** An occupied slot to evict; called only when every slot is occupied. */
    int victim();
}
