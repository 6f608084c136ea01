package io.cpstream.encoder;

import java.nio.ByteBuffer;

/**
 * One page ready for the wire: its encoding, the payload (may be a view of the caller's staging
 * memory or of the encoder's scratch space, valid only until that changes), and the CRC-32C of the
 * page the receiver must end up with.
 *
 * @param baseVersion DELTA only: the version (epoch) of the receiver's copy the delta applies to; 0 otherwise
 * @param sourceIndex DUPLICATE only: the page whose content this page repeats; 0 otherwise
 */
public record EncodedPage(PageEncoding encoding, ByteBuffer payload, int crc32c, long baseVersion, long sourceIndex) {

    /** A record that needs no context on the receiver: ZERO, FULL or LZ4. */
    public EncodedPage(PageEncoding encoding, ByteBuffer payload, int crc32c) {
        this(encoding, payload, crc32c, 0, 0);
    }

    public int payloadBytes() {
        return payload.remaining();
    }
}
