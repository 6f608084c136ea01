package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;

/**
 * What a DELTA or DUPLICATE record refers to on the receiver: its current copy of a page and the
 * version (epoch) that copy was written in. The collector implements it over its standby image.
 */
public interface ReceiverPages {

    /** The receiver's copy of page {@code index} (only read), or null when there is no such page. */
    MemorySegment page(long index);

    /** The epoch in which the receiver's copy of page {@code index} was last written. */
    long version(long index);
}
