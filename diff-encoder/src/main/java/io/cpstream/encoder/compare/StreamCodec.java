package io.cpstream.encoder.compare;

import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.ReceiverPages;

import java.lang.foreign.MemorySegment;

/**
 * One way of putting checkpoints on the wire, both halves (sender and receiver) in one object, so
 * {@link CodecComparison} can run several over exactly the same checkpoints. Each half keeps whatever
 * state its scheme needs (caches, feedback) as it would across a real stream.
 */
public interface StreamCodec extends AutoCloseable {

    String name();

    /** Sender: checkpoint {@code epoch} is about to send {@code dirtyPages}. */
    default void beginCheckpoint(long epoch, long[] dirtyPages) {
    }

    /** Sender: encodes the new {@code content} of {@code page}. The record is valid until the next call. */
    EncodedPage encode(long epoch, long page, MemorySegment content);

    /** Receiver: rebuilds {@code page} from {@code record} into the scratch page {@code dst}, verified. */
    void decode(long epoch, long page, EncodedPage record, ReceiverPages receiver, MemorySegment dst)
            throws CorruptPageException;

    /** Receiver: {@code page} is about to go from {@code held} to {@code decoded} (both verified). */
    default void applied(long page, MemorySegment held, MemorySegment decoded) {
    }

    /** Checkpoint {@code epoch} is committed on the receiver and acknowledged to the sender. */
    default void committed(long epoch) {
    }

    @Override
    default void close() {
    }
}
