package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Writes the runs of a delta ({@link DeltaFormat}) between a page and its base.
 *
 * <p>Unchanged stretches are skipped with the JDK's vectorised segment mismatch; changed stretches are
 * walked a word at a time while every byte of the XOR word is non-zero. A single unchanged byte inside
 * a changed stretch stays in the run (one XOR byte is never dearer than a new run header), two or more
 * end it. The writer gives up as soon as the output passes a limit, so a page that changed everywhere
 * costs one pass at most.
 */
final class DeltaRunWriter {

    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;
    private static final long LOW_BITS = 0x0101010101010101L;
    private static final long HIGH_BITS = 0x8080808080808080L;

    private DeltaRunWriter() {
    }

    /**
     * Writes the runs turning {@code base} into {@code page} at {@code out[from...]}.
     *
     * @param outSegment a heap segment over {@code out}, so XOR words are stored without per-byte work
     * @param limit      give up once the output would end past this offset; {@code out} must have
     *                   {@code limit + DeltaFormat.MAX_RUN_HEADER} bytes of room
     * @return the offset just past the last run, or -1 if the delta would exceed {@code limit}
     */
    static int writeRuns(MemorySegment page, MemorySegment base, int pageSize, byte[] out, MemorySegment outSegment,
            int from, int limit) {
        int o = from;
        int position = 0;
        int previousEnd = 0;
        while (position < pageSize) {
            long firstDifference = MemorySegment.mismatch(page, position, pageSize, base, position, pageSize);
            if (firstDifference < 0) {
                break;
            }
            int start = position + (int) firstDifference;
            int end = runEnd(page, base, start, pageSize);
            int length = end - start;
            int skip = start - previousEnd;
            if (o + DeltaFormat.MAX_RUN_HEADER + length > limit) {
                return -1;
            }
            o = DeltaFormat.writeHeader(out, o, skip, length);
            o = writeXor(page, base, start, end, outSegment, o);
            previousEnd = end;
            position = end;
        }
        return o;
    }

    /** Where the changed stretch starting at {@code start} (a changed byte) ends. */
    private static int runEnd(MemorySegment page, MemorySegment base, int start, int pageSize) {
        int i = start;
        while (i < pageSize) {
            if (i + Long.BYTES <= pageSize) {
                long xor = page.get(WORD, i) ^ base.get(WORD, i);
                if (!hasZeroByte(xor)) {
                    i += Long.BYTES;
                    continue;
                }
            }
            if (page.get(BYTE, i) != base.get(BYTE, i)) {
                i++;
            } else if (i + 1 < pageSize && page.get(BYTE, i + 1) != base.get(BYTE, i + 1)) {
                i += 2;
            } else {
                break;
            }
        }
        return i;
    }

    private static int writeXor(MemorySegment page, MemorySegment base, int start, int end, MemorySegment out, int o) {
        int i = start;
        for (; i + Long.BYTES <= end; i += Long.BYTES, o += Long.BYTES) {
            out.set(WORD, o, page.get(WORD, i) ^ base.get(WORD, i));
        }
        for (; i < end; i++, o++) {
            out.set(BYTE, o, (byte) (page.get(BYTE, i) ^ base.get(BYTE, i)));
        }
        return o;
    }

    /** True when some byte of {@code word} is zero (the classic SWAR test; exact, no false positives). */
    static boolean hasZeroByte(long word) {
        return ((word - LOW_BITS) & ~word & HIGH_BITS) != 0;
    }
}
