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

    /** Sender: {@code checkpoint} is about to be encoded (its pages, and whether it is the initial full sync). */
    default void beginCheckpoint(Checkpoint checkpoint) {
    }

    /** Sender: encodes the new {@code content} of {@code page}. The record is valid until the next call. */
    EncodedPage encode(long epoch, long page, MemorySegment content);

    /** Sender: every page of checkpoint {@code epoch} is encoded. */
    default void endCheckpoint(long epoch) {
    }

    /**
     * Receiver: rebuilds {@code page} from {@code record} into the scratch page {@code dst}, verified. What
     * {@code receiver} holds is the image as of the previous checkpoint: pages apply only at commit.
     */
    void decode(long epoch, long page, EncodedPage record, ReceiverPages receiver, MemorySegment dst)
            throws CorruptPageException;

    /**
     * Receiver: every record of checkpoint {@code epoch} was decoded, none applied yet: a scheme that checks records
     * together (cpstream checks a batch at a time) refuses them here.
     */
    default void decoded(long epoch) throws CorruptPageException {
    }

    /**
     * Receiver, at commit: {@code page} is about to go from {@code held}, written in checkpoint {@code heldVersion}
     * (0: before the receiver started, contents unknown to any sender) to {@code decoded} (verified).
     */
    default void applied(long page, MemorySegment held, long heldVersion, MemorySegment decoded) {
    }

    /** Checkpoint {@code epoch} is committed on the receiver and acknowledged to the sender. */
    default void committed(long epoch) {
    }

    /**
     * How this scheme frames its records on the wire, or null when only the caller knows (cpstream's framing is the
     * agent's protobuf messages, which this module does not see): {@link CodecComparison} then reports payload
     * bytes only, unless it was given a framing for this codec.
     */
    default WireFraming framing() {
        return null;
    }

    @Override
    default void close() {
    }
}
