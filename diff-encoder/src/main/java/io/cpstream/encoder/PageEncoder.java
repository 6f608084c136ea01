package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * Picks an encoding for each dirty page. Zero pages cost nothing but their index; everything else
 * goes whole for now.
 */
public final class PageEncoder {

    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0).asReadOnlyBuffer();

    /** Encodes {@code page}; a FULL payload is a read-only view of {@code page}, not a copy. */
    public EncodedPage encode(MemorySegment page) {
        int crc = PageChecksums.crc32c(page);
        if (ZeroPages.isZero(page)) {
            return new EncodedPage(PageEncoding.ZERO, EMPTY, crc);
        }
        return new EncodedPage(PageEncoding.FULL, page.asReadOnly().asByteBuffer(), crc);
    }
}
