package io.cpstream.encoder;

import java.nio.ByteBuffer;

/**
 * One page ready for the wire: its encoding, the payload (may be a view of the caller's staging
 * memory, valid only as long as that is), and the CRC-32C of the page the receiver must end up with.
 */
public record EncodedPage(PageEncoding encoding, ByteBuffer payload, int crc32c) {

    public int payloadBytes() {
        return payload.remaining();
    }
}
