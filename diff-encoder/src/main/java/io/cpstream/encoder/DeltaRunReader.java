package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Applies the runs of a delta ({@link DeltaFormat}) to a page that already holds the base. Every skip and
 * length is checked against the page end and the input end before a byte is touched, so a hostile
 * delta can fail but never write outside the page.
 */
final class DeltaRunReader {

    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;

    private DeltaRunReader() {
    }

    /**
     * XORs the runs in {@code in[from, to)} into {@code page} (which holds the base).
     *
     * @param inSegment a heap segment over {@code in}
     */
    static void applyRuns(byte[] in, MemorySegment inSegment, int from, int to, MemorySegment page, int pageSize,
            Varints.Cursor cursor) throws CorruptPageException {
        cursor.position = from;
        int position = 0;
        while (cursor.position < to) {
            if (to - cursor.position < 2) {
                throw new CorruptPageException("delta run header truncated at byte " + cursor.position);
            }
            int header = (in[cursor.position] & 0xFF) << 8 | (in[cursor.position + 1] & 0xFF);
            cursor.position += 2;
            int skip = header >>> DeltaFormat.LENGTH_BITS;
            int length = header & DeltaFormat.LENGTH_MASK;
            if (skip == DeltaFormat.SKIP_IN_HEADER) {
                int extra = Varints.read(in, cursor, to, "delta run skip");
                if (extra > pageSize) {
                    throw new CorruptPageException("delta run skips " + extra + "+" + DeltaFormat.SKIP_IN_HEADER
                            + " bytes, more than the page");
                }
                skip += extra;
            }
            if (length == 0) {
                int extra = Varints.read(in, cursor, to, "delta run length");
                if (extra > pageSize) {
                    throw new CorruptPageException("delta run of " + extra + "+" + DeltaFormat.LONG_RUN
                            + " bytes is longer than the page");
                }
                length = DeltaFormat.LONG_RUN + extra;
            }
            if (skip > pageSize - position) {
                throw new CorruptPageException("delta run skips to byte " + ((long) position + skip)
                        + ", past the page end " + pageSize);
            }
            position += skip;
            if (length > pageSize - position) {
                throw new CorruptPageException("delta run of " + length + " bytes at byte " + position
                        + " runs past the page end " + pageSize);
            }
            if (length > to - cursor.position) {
                throw new CorruptPageException("delta run of " + length + " bytes is truncated: "
                        + (to - cursor.position) + " bytes left");
            }
            xorInto(inSegment, cursor.position, page, position, length);
            cursor.position += length;
            position += length;
        }
    }

    private static void xorInto(MemorySegment in, int from, MemorySegment page, int at, int length) {
        int k = 0;
        for (; k + Long.BYTES <= length; k += Long.BYTES) {
            page.set(WORD, at + k, page.get(WORD, at + k) ^ in.get(WORD, from + k));
        }
        for (; k < length; k++) {
            page.set(BYTE, at + k, (byte) (page.get(BYTE, at + k) ^ in.get(BYTE, from + k)));
        }
    }
}
