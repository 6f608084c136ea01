package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;

/**
 * What a DELTA or DUPLICATE record refers to on the receiver: its committed copy of a page (the checkpoint's
 * base, never a page staged by the checkpoint being decoded) and the version (epoch) that copy was written in.
 * The collector implements it over its standby image.
 */
public interface ReceiverPages {

    /** The receiver's copy of page {@code index} (only read), or null when there is no such page. */
    MemorySegment page(long index);

    /**
     * The epoch in which the receiver's copy of page {@code index} was last written, or 0 when the receiver does
     * not know it (a DELTA against it is then refused).
     */
    long version(long index);
}
