package io.cpstream.harness;

import io.cpstream.encoder.compare.Checkpoint;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.Stun;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.BitSet;
import java.util.concurrent.TimeUnit;

/**
 * Checkpoints taken from a live memory source the way the agent takes them: let the guest run one epoch, stun it,
 * harvest its dirty set and copy those pages. The first is the full sync (the first harvest names every page).
 * The guest stays stunned while the caller processes a checkpoint ({@link #next()} resumes it), so every
 * checkpoint covers exactly one epoch of guest activity however long the encoders take.
 */
public final class SourceCheckpoints implements AutoCloseable {

    private final MemorySource source;
    private final long epochNanos;
    private final int pageSize;
    private Arena arena = Arena.ofConfined();
    private MemorySegment contents = MemorySegment.NULL;
    private Stun stunned;
    private long epoch;

    public SourceCheckpoints(MemorySource source, long epochMillis) {
        this.source = source;
        this.epochNanos = TimeUnit.MILLISECONDS.toNanos(epochMillis);
        this.pageSize = source.pageSize();
    }

    /** Resumes the guest, lets it run one epoch, and captures the next checkpoint (valid until the next call). */
    public Checkpoint next() throws InterruptedException {
        if (stunned != null) {
            stunned.close();
            stunned = null;
        } else {
            source.start();
        }
        TimeUnit.NANOSECONDS.sleep(epochNanos);
        stunned = source.stun();
        BitSet dirty = stunned.harvestDirty();
        int count = dirty.cardinality();
        long[] pages = new long[count];
        ensureCapacity((long) count * pageSize);
        int i = 0;
        for (int page = dirty.nextSetBit(0); page >= 0; page = dirty.nextSetBit(page + 1), i++) {
            pages[i] = page;
            source.copyPage(page, contents, (long) i * pageSize);
        }
        epoch++;
        return new Checkpoint(epoch, pages, contents, pageSize, epoch == 1);
    }

    private void ensureCapacity(long bytes) {
        if (contents.byteSize() < bytes) {
            arena.close();
            arena = Arena.ofConfined();
            contents = arena.allocate(Math.max(bytes, pageSize), pageSize);
        }
    }

    @Override
    public void close() {
        if (stunned != null) {
            stunned.close();
        }
        arena.close();
    }
}
