package io.cpstream.encoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Zero-page detection, vectorised by the JDK's segment mismatch intrinsic. */
public final class ZeroPages {

    private static final int MAX_PAGE = 1 << 16;
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final MemorySegment ZEROS = Arena.global().allocate(MAX_PAGE, 4096);

    private ZeroPages() {
    }

    public static boolean isZero(MemorySegment page) {
        if (page.byteSize() > MAX_PAGE) {
            throw new IllegalArgumentException("page of " + page.byteSize() + " bytes is larger than " + MAX_PAGE);
        }
        long size = page.byteSize();
        // Most pages that are not zero have a non-zero first or last word: answer those without setting up the
        // vectorised compare, which costs more than the two loads on the path of every dirty page.
        if (size >= Long.BYTES && (page.get(WORD, 0) != 0 || page.get(WORD, size - Long.BYTES) != 0)) {
            return false;
        }
        return MemorySegment.mismatch(page, 0, size, ZEROS, 0, size) == -1;
    }
}
