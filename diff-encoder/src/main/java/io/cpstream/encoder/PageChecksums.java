package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.util.zip.CRC32C;

/** CRC-32C of pages: hardware-accelerated in the JDK, and what every transmitted page carries (invariant I4). */
public final class PageChecksums {

    private PageChecksums() {
    }

    public static int crc32c(MemorySegment page) {
        CRC32C crc = new CRC32C();
        crc.update(page.asByteBuffer());
        return (int) crc.getValue();
    }
}
