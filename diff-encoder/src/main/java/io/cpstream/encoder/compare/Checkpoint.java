package io.cpstream.encoder.compare;

import java.lang.foreign.MemorySegment;

/**
 * The dirty pages of one checkpoint: {@code pages[i]} has new content
 * {@code contents[i * pageSize, (i + 1) * pageSize)}. The old content is whatever the receiver holds.
 *
 * @param fullSync the initial checkpoint carrying every page, onto a receiver that holds nothing yet
 */
public record Checkpoint(long epoch, long[] pages, MemorySegment contents, int pageSize, boolean fullSync) {

    /** An incremental checkpoint. */
    public Checkpoint(long epoch, long[] pages, MemorySegment contents, int pageSize) {
        this(epoch, pages, contents, pageSize, false);
    }

    public MemorySegment content(int i) {
        return contents.asSlice((long) i * pageSize, pageSize);
    }
}
