package io.cpstream.collector.store;

import io.cpstream.encoder.PageHash128;
import io.cpstream.snapshot.DurableFiles;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * The collector's content-addressed page store: {@code <data-dir>/shared/pages.bin}, slots of one page each, which
 * the standbys' page maps ({@link PageMap}) refer to. A page arriving at apply time is hashed ({@link PageHash128});
 * a slot with the same hash is compared byte for byte and, only if equal, referenced once more; otherwise the page
 * gets a slot of its own. A slot is never written while anything refers to it: a later write of a page moves that
 * page to another slot and drops the old reference (copy on write), and a slot nobody refers to is free again.
 *
 * <p>Nothing here is persisted but the slots' bytes: which slots are in use, and how often, is counted from the
 * standbys' page maps when the collector starts ({@link #pin}), before any standby replays a journal. The file is
 * sparse and mapped once at its full capacity (a slot for every page the collector's quota admits), so only slots
 * written take space.
 *
 * <p>Heap: 4 bytes of reference count per slot ever used, and an open-addressing index of 24 bytes per slot in use
 * at a load of at most one half. Thread-safe: standbys of different VMs apply under their own monitors, and meet
 * here under this one; reading a slot a standby refers to needs no lock (it is immutable while referred to).
 */
public final class SharedPages implements AutoCloseable {

    static final String FILE = "pages.bin";

    private final int pageSize;
    private final long capacity;
    private final boolean enabled;
    private final Arena arena = Arena.ofShared();
    private final FileChannel channel;
    private final MemorySegment slots;
    private final PageHash128 hash = new PageHash128();
    private int[] refs = new int[1024];
    private int highWater;
    private int[] free = new int[64];
    private int freeCount;
    /** Open addressing, linear probing: 64 bits of the page's hash (0 = empty), and its slot. */
    private long[] keys = new long[1024];
    private int[] values = new int[1024];
    private int indexed;
    /** Pages referring to a slot, over all standbys; and slots in use. Volatile: gauges read them without the lock. */
    private volatile long references;
    private volatile long slotsInUse;

    private SharedPages(Path directory, int pageSize, long capacity, boolean enabled) throws IOException {
        this.pageSize = pageSize;
        this.capacity = capacity;
        this.enabled = enabled;
        DurableFiles.createPrivateDirectories(directory);
        this.channel = DurableFiles.openPrivate(directory.resolve(FILE));
        try {
            long bytes = Math.multiplyExact(capacity, (long) pageSize);
            if (channel.size() < bytes) {
                channel.write(java.nio.ByteBuffer.allocate(1), bytes - 1); // sparse: only written slots take space
            }
            this.slots = channel.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
        } catch (IOException | RuntimeException e) {
            channel.close();
            arena.close();
            throw e;
        }
    }

    /**
     * Opens the store under {@code directory}.
     *
     * @param capacity slots at most: the pages the collector's quota admits over all its standbys
     * @param enabled  whether pages applied from now on go to slots (false: existing references are still served
     *                 and dropped as their pages are rewritten, but no new page is shared)
     */
    public static SharedPages open(Path directory, int pageSize, long capacity, boolean enabled) throws IOException {
        if (capacity < 1 || capacity > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("capacity of " + capacity + " slots");
        }
        return new SharedPages(directory, pageSize, capacity, enabled);
    }

    public int pageSize() {
        return pageSize;
    }

    public boolean enabled() {
        return enabled;
    }

    long capacity() {
        return capacity;
    }

    /** The content of {@code slot}, which the caller refers to (so it does not change while referred to). */
    MemorySegment slot(int slot) {
        return slots.asSlice((long) slot * pageSize, pageSize);
    }

    /** At start, before any standby applies anything: one page of a standby's map refers to {@code slot}. */
    synchronized void pin(int slot) throws IOException {
        if (slot < 0 || slot >= capacity) {
            throw new IOException("a page map refers to slot " + slot + " of " + capacity);
        }
        growRefs(slot + 1);
        highWater = Math.max(highWater, slot + 1);
        if (refs[slot]++ == 0) {
            slotsInUse++;
            MemorySegment content = slot(slot);
            long key = keyOf(content);
            if (find(key) < 0) {
                put(key, slot);
            }
        }
        references++;
    }

    /** Once every standby's map is pinned: the slots below the high-water mark that nobody refers to are free. */
    public synchronized void pinned() {
        freeCount = 0;
        for (int slot = highWater - 1; slot >= 0; slot--) {
            if (refs[slot] == 0) {
                pushFree(slot);
            }
        }
    }

    /**
     * A page of this content is to be held: the slot of an equal page (compared byte for byte), referenced once
     * more, or a new slot holding a copy of it.
     */
    synchronized int store(MemorySegment content) throws IOException {
        long key = keyOf(content);
        int at = find(key);
        if (at >= 0) {
            int slot = values[at];
            if (slot(slot).mismatch(content) == -1) {
                refs[slot]++;
                references++;
                return slot;
            }
        }
        int slot;
        if (freeCount > 0) {
            slot = free[--freeCount];
        } else if (highWater < capacity) {
            slot = highWater++;
            growRefs(highWater);
        } else {
            throw new IOException("the shared page store is full (" + capacity + " slots)");
        }
        MemorySegment.copy(content, 0, slots, (long) slot * pageSize, pageSize);
        refs[slot] = 1;
        references++;
        slotsInUse++;
        if (at < 0) {
            put(key, slot); // a colliding page of other content keeps its own, unindexed slot
        }
        return slot;
    }

    /** A page no longer refers to {@code slot}; the last reference frees it. */
    synchronized void release(int slot) {
        if (slot < 0 || slot >= highWater || refs[slot] <= 0) {
            throw new IllegalStateException("release of slot " + slot + " that nothing refers to");
        }
        references--;
        if (--refs[slot] == 0) {
            slotsInUse--;
            long key = keyOf(slot(slot));
            int at = find(key);
            if (at >= 0 && values[at] == slot) {
                remove(at);
            }
            pushFree(slot);
        }
    }

    /** How many pages refer to {@code slot} now (read without the lock: for status and metrics). */
    int referencesTo(int slot) {
        int[] counts = refs;
        return slot >= 0 && slot < counts.length ? counts[slot] : 0;
    }

    /** Pages of all standbys held in slots. */
    public long references() {
        return references;
    }

    /** Slots in use: pages stored. */
    public long slotsInUse() {
        return slotsInUse;
    }

    /** Bytes the slots save over every page stored on its own. */
    public long savedBytes() {
        return (references - slotsInUse) * pageSize;
    }

    /** Heap of the reference counts and the index. */
    public synchronized long heapBytes() {
        return 16 + 4L * refs.length + 16 + 4L * free.length + 2 * 16 + 12L * keys.length;
    }

    void force() {
        slots.force();
    }

    @Override
    public void close() throws IOException {
        try {
            channel.close();
        } finally {
            arena.close();
        }
    }

    private long keyOf(MemorySegment content) {
        hash.hash(content);
        long key = hash.low();
        return key == 0 ? 1 : key;
    }

    private int find(long key) {
        int mask = keys.length - 1;
        for (int at = mix(key) & mask; ; at = (at + 1) & mask) {
            if (keys[at] == 0) {
                return -1;
            }
            if (keys[at] == key) {
                return at;
            }
        }
    }

    private void put(long key, int slot) {
        if (2 * (indexed + 1) > keys.length) {
            rehash(keys.length * 2);
        }
        int mask = keys.length - 1;
        int at = mix(key) & mask;
        while (keys[at] != 0) {
            at = (at + 1) & mask;
        }
        keys[at] = key;
        values[at] = slot;
        indexed++;
    }

    /** Backward-shift deletion: the entries after a removed one move up so that probing never stops short. */
    private void remove(int at) {
        int mask = keys.length - 1;
        int hole = at;
        for (int next = (hole + 1) & mask; keys[next] != 0; next = (next + 1) & mask) {
            int home = mix(keys[next]) & mask;
            boolean movable = hole <= next ? (home <= hole || home > next) : (home <= hole && home > next);
            if (movable) {
                keys[hole] = keys[next];
                values[hole] = values[next];
                hole = next;
            }
        }
        keys[hole] = 0;
        values[hole] = 0;
        indexed--;
    }

    private void rehash(int size) {
        long[] oldKeys = keys;
        int[] oldValues = values;
        keys = new long[size];
        values = new int[size];
        indexed = 0;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != 0) {
                put(oldKeys[i], oldValues[i]);
            }
        }
    }

    private static int mix(long key) {
        return (int) (key ^ (key >>> 32));
    }

    private void growRefs(int size) {
        if (size > refs.length) {
            refs = Arrays.copyOf(refs, Math.max(size, refs.length * 2));
        }
    }

    private void pushFree(int slot) {
        if (freeCount == free.length) {
            free = Arrays.copyOf(free, free.length * 2);
        }
        free[freeCount++] = slot;
    }
}
