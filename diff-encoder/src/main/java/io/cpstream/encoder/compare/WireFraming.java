package io.cpstream.encoder.compare;

import io.cpstream.encoder.EncodedPage;

/**
 * How one scheme frames its page records on the wire, for {@link CodecComparison}'s {@code wire_bytes}: it is shown
 * each checkpoint's records in the order they are sent and says how many bytes the checkpoint took, framing
 * included. cpstream's is the agent's own message builder (in {@code checkpoint-agent}; this module knows no
 * protobuf); XBZRLE's is {@link QemuRamFraming}.
 */
public interface WireFraming {

    /** Checkpoint {@code checkpoint} is about to be sent. */
    void beginCheckpoint(Checkpoint checkpoint);

    /** The next record of the checkpoint; its payload is valid only during the call. */
    void page(long index, EncodedPage record);

    /** Every record of the checkpoint was shown: its bytes on the wire, framing included. */
    long endCheckpoint();
}
