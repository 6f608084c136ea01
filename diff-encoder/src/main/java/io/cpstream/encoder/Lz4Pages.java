package io.cpstream.encoder;

import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

/**
 * LZ4 block compression of page-sized byte arrays. Uses the native (JNI) LZ4 when it loads and the
 * pure-Java one otherwise; both produce the same block format. Only the safe decompressor is used,
 * because the input comes from the wire.
 */
final class Lz4Pages {

    private static final LZ4Factory FACTORY = LZ4Factory.fastestInstance();
    private static final LZ4Compressor COMPRESSOR = FACTORY.fastCompressor();
    private static final LZ4SafeDecompressor DECOMPRESSOR = FACTORY.safeDecompressor();

    private Lz4Pages() {
    }

    static int maxCompressedLength(int length) {
        return COMPRESSOR.maxCompressedLength(length);
    }

    /** Compresses {@code src[srcOffset, srcOffset + length)} into {@code dst[dstOffset...]}; returns the compressed length. */
    static int compress(byte[] src, int srcOffset, int length, byte[] dst, int dstOffset) {
        return COMPRESSOR.compress(src, srcOffset, length, dst, dstOffset, dst.length - dstOffset);
    }

    /**
     * Decompresses exactly {@code expectedLength} bytes into {@code dst}; anything else (short, long,
     * or a malformed block) is corrupt input, and the decompressor never writes past {@code expectedLength}.
     */
    static void decompressExactly(byte[] src, int srcOffset, int srcLength, byte[] dst, int expectedLength,
            String what) throws CorruptPageException {
        int produced;
        try {
            produced = DECOMPRESSOR.decompress(src, srcOffset, srcLength, dst, 0, expectedLength);
        } catch (LZ4Exception e) {
            throw new CorruptPageException(what + ": malformed LZ4 block (" + e.getMessage() + ")");
        }
        if (produced != expectedLength) {
            throw new CorruptPageException(what + ": LZ4 block decompresses to " + produced + " bytes, expected "
                    + expectedLength);
        }
    }
}
