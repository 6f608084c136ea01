package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * Rebuilds a page from its record into a scratch page and verifies its checksum before anyone may
 * apply it. Never writes outside {@code dst}; never trusts a length from the wire.
 */
public final class PageDecoder {

    private final int pageSize;

    public PageDecoder(int pageSize) {
        this.pageSize = pageSize;
    }

    /**
     * Decodes into {@code dst} (exactly one page long) and checks the result against {@code expectedCrc}.
     *
     * @throws CorruptPageException when the record is malformed or produces the wrong page
     */
    public void decode(PageEncoding encoding, ByteBuffer payload, int expectedCrc, MemorySegment dst)
            throws CorruptPageException {
        if (dst.byteSize() != pageSize) {
            throw new IllegalArgumentException("destination is " + dst.byteSize() + " bytes, page is " + pageSize);
        }
        switch (encoding) {
            case ZERO -> {
                if (payload.hasRemaining()) {
                    throw new CorruptPageException("zero page carries " + payload.remaining() + " payload bytes");
                }
                dst.fill((byte) 0);
            }
            case FULL -> {
                if (payload.remaining() != pageSize) {
                    throw new CorruptPageException("full page carries " + payload.remaining() + " bytes, expected "
                            + pageSize);
                }
                MemorySegment.copy(MemorySegment.ofBuffer(payload), 0, dst, 0, pageSize);
            }
            default -> throw new CorruptPageException("encoding " + encoding + " is not supported by this collector");
        }
        int actual = PageChecksums.crc32c(dst);
        if (actual != expectedCrc) {
            throw new CorruptPageException(String.format("checksum mismatch: page decodes to crc32c %08x, record says %08x",
                    actual, expectedCrc));
        }
    }
}
