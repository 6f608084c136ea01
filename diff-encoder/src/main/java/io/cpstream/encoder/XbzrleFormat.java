package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * QEMU's XBZRLE page delta, implemented from its documentation (docs/devel/migration, "XBZRLE"), as the
 * baseline cpstream's own delta is measured against. Not used on the cpstream wire.
 *
 * <pre>
 * page  := zrun nzrun | zrun nzrun page     the trailing unchanged bytes are not encoded
 * zrun  := length                           bytes equal to the old page (may be 0 at the start)
 * nzrun := length byte...                   bytes that differ, as their new values
 * length := ULEB128
 * </pre>
 * An encoding that would not fit in a page "overflows", and the page is sent whole.
 */
public final class XbzrleFormat {

    private static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;

    private XbzrleFormat() {
    }

    /**
     * Encodes {@code page} against {@code old} into {@code out} (at least a page long).
     *
     * @return encoded length (0 when nothing changed), or -1 on overflow (more than {@code pageSize} bytes)
     */
    public static int encode(MemorySegment old, MemorySegment page, int pageSize, byte[] out) {
        int o = 0;
        int i = 0;
        while (i < pageSize) {
            long mismatch = MemorySegment.mismatch(page, i, pageSize, old, i, pageSize);
            if (mismatch < 0) {
                break;
            }
            int zrun = (int) mismatch;
            int start = i + zrun;
            int end = start + 1;
            while (end < pageSize && page.get(BYTE, end) != old.get(BYTE, end)) {
                end++;
            }
            int nzrun = end - start;
            if (o + Varints.size(zrun) + Varints.size(nzrun) + nzrun > pageSize) {
                return -1;
            }
            o = Varints.write(out, o, zrun);
            o = Varints.write(out, o, nzrun);
            MemorySegment.copy(page, BYTE, start, out, o, nzrun);
            o += nzrun;
            i = end;
        }
        return o;
    }

    /**
     * Applies an encoding in {@code in[0, length)} to {@code page}, which holds the old content. Checks every
     * run against the page end before writing.
     */
    public static void decode(byte[] in, int length, MemorySegment page, int pageSize) throws CorruptPageException {
        Varints.Cursor cursor = new Varints.Cursor();
        int position = 0;
        while (cursor.position < length) {
            int zrun = Varints.read(in, cursor, length, "xbzrle zero run");
            int nzrun = Varints.read(in, cursor, length, "xbzrle non-zero run");
            if (zrun > pageSize - position || nzrun > pageSize - position - zrun) {
                throw new CorruptPageException("xbzrle run past the page end at byte " + position);
            }
            if (nzrun > length - cursor.position) {
                throw new CorruptPageException("xbzrle run of " + nzrun + " bytes is truncated");
            }
            position += zrun;
            MemorySegment.copy(in, cursor.position, page, BYTE, position, nzrun);
            cursor.position += nzrun;
            position += nzrun;
        }
    }
}
