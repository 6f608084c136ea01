package io.cpstream.encoder.compare;

import io.cpstream.encoder.EncodedPage;

/**
 * The bytes QEMU's live migration puts on the wire for RAM pages, as {@code migration/ram.c} writes them (learned
 * from its {@code save_page_header}, {@code save_zero_page}, {@code save_xbzrle_page} and
 * {@code save_normal_page}; no code taken): every page starts with an 8-byte big-endian word holding its offset and
 * flags (the RAMBlock's name follows only when the block changes, never within one block, which is all a
 * comparison guest has); a zero page adds 1 byte (the fill value); an XBZRLE page adds 1 flag byte and a 2-byte
 * length before its encoded bytes; a whole page adds the page. Each iteration (here: each checkpoint) ends with an
 * 8-byte {@code RAM_SAVE_FLAG_EOS} word.
 */
public final class QemuRamFraming implements WireFraming {

    public static final int PAGE_HEADER_BYTES = 8;
    public static final int ZERO_PAGE_EXTRA_BYTES = 1;
    public static final int XBZRLE_EXTRA_BYTES = 3;
    public static final int END_OF_SECTION_BYTES = 8;

    private long bytes;

    @Override
    public void beginCheckpoint(Checkpoint checkpoint) {
        bytes = 0;
    }

    @Override
    public void page(long index, EncodedPage record) {
        bytes += PAGE_HEADER_BYTES + switch (record.encoding()) {
            case ZERO -> ZERO_PAGE_EXTRA_BYTES;
            case DELTA -> XBZRLE_EXTRA_BYTES + record.payloadBytes();
            case FULL -> record.payloadBytes();
            default -> throw new IllegalArgumentException(record.encoding() + " is no QEMU RAM page");
        };
    }

    @Override
    public long endCheckpoint() {
        return bytes + END_OF_SECTION_BYTES;
    }
}
