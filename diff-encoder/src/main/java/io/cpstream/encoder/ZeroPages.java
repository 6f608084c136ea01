package io.cpstream.encoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Zero-page detection, vectorised by the JDK's segment mismatch intrinsic. */
public final class ZeroPages {

    private static final int MAX_PAGE = 1 << 16;
    private static final MemorySegment ZEROS = Arena.global().allocate(MAX_PAGE, 4096);

    private ZeroPages() {
    }

    public static boolean isZero(MemorySegment page) {
        if (page.byteSize() > MAX_PAGE) {
            throw new IllegalArgumentException("page of " + page.byteSize() + " bytes is larger than " + MAX_PAGE);
        }
        return MemorySegment.mismatch(page, 0, page.byteSize(), ZEROS, 0, page.byteSize()) == -1;
    }
}
