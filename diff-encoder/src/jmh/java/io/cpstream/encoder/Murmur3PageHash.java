package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The page hash PageHash128 replaced (MurmurHash3 x64 128, written from its public description by the previous
 * author), kept in the benchmarks only, to measure the two side by side ({@code hash128} vs {@code hashMurmur3}).
 */
final class Murmur3PageHash {

    private static final long C1 = 0x87c37b91114253d5L;
    private static final long C2 = 0x4cf5ad432745937fL;
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED;

    private final long seed;
    private long high;
    private long low;

    /** A fixed seed: both ends of a stream and every agent restart must agree on hashes they persist. */
    Murmur3PageHash() {
        this(0x5eed_c0de_cafe_f00dL);
    }

    Murmur3PageHash(long seed) {
        this.seed = seed;
    }

    /** Hashes {@code page}, whose size must be a multiple of 16 bytes (every page size is). */
    public void hash(MemorySegment page) {
        long size = page.byteSize();
        if ((size & 15) != 0) {
            throw new IllegalArgumentException("page of " + size + " bytes is not a multiple of 16");
        }
        long h1 = seed;
        long h2 = seed;
        for (long at = 0; at < size; at += 16) {
            long k1 = page.get(WORD, at);
            long k2 = page.get(WORD, at + 8);
            k1 *= C1;
            k1 = Long.rotateLeft(k1, 31);
            k1 *= C2;
            h1 ^= k1;
            h1 = Long.rotateLeft(h1, 27);
            h1 += h2;
            h1 = h1 * 5 + 0x52dce729;
            k2 *= C2;
            k2 = Long.rotateLeft(k2, 33);
            k2 *= C1;
            h2 ^= k2;
            h2 = Long.rotateLeft(h2, 31);
            h2 += h1;
            h2 = h2 * 5 + 0x38495ab5;
        }
        h1 ^= size;
        h2 ^= size;
        h1 += h2;
        h2 += h1;
        h1 = finalMix(h1);
        h2 = finalMix(h2);
        h1 += h2;
        h2 += h1;
        high = h1;
        low = h2;
    }

    public long high() {
        return high;
    }

    public long low() {
        return low;
    }

    private static long finalMix(long k) {
        k ^= k >>> 33;
        k *= 0xff51afd7ed558ccdL;
        k ^= k >>> 33;
        k *= 0xc4ceb9fe1a85ec53L;
        k ^= k >>> 33;
        return k;
    }
}
