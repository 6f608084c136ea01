package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * 128-bit content hash of a page, used to recognise a page the receiver already holds. 128 bits make an
 * accidental collision negligible (about 2^-64 after 2^32 distinct pages); the CRC-32C of the page still travels
 * with every DUPLICATE record, so even a collision cannot be applied silently (invariant I4). Not a
 * cryptographic hash: a guest that crafts colliding pages can at worst make the receiver refuse its own page
 * (CRC mismatch, then a full resend).
 *
 * <p>The construction follows the long-input path of XXH3 as publicly described (written from that description,
 * with keys of its own, so not bit-compatible with it): eight independent 64-bit lanes, each word XORed with a key
 * that depends on its position, folded by a 32x32-bit multiply of its two halves and added to its lane, the word
 * itself added to the neighbouring lane; every 1 KiB the lanes are scrambled (shift, XOR, multiply), and at the end
 * pairs of lanes are folded by a 64x64-bit multiply into the two 64-bit halves. One multiply per 8 bytes and no
 * dependency between lanes, where MurmurHash3 x64-128 (used before) chains two multiplies per 8 bytes through
 * one serial state: this runs 2-3x faster per page (JMH {@code hash128}). Position-dependent keys make pages
 * that differ only by the order of their 64-byte stripes hash apart.
 *
 * <p>One instance per thread; {@link #hash} leaves its result in {@link #high()} and {@link #low()} so that
 * hashing makes no garbage.
 */
public final class PageHash128 {

    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final int LANES = 8;
    private static final int STRIPE = LANES * Long.BYTES;
    private static final int STRIPES_PER_BLOCK = 16;
    private static final long PRIME32 = 0x9E3779B1L;
    private static final long PRIME64_1 = 0x9E3779B185EBCA87L;
    private static final long PRIME64_2 = 0xC2B2AE3D27D4EB4FL;

    /** A fixed seed: both ends of a stream and every agent restart must agree on hashes they persist. */
    private static final long DEFAULT_SEED = 0x5eed_c0de_cafe_f00dL;

    /** Per stripe position in a block: one key per lane. */
    private final long[] stripeKeys = new long[STRIPES_PER_BLOCK * LANES];
    private final long[] scrambleKeys = new long[LANES];
    private final long[] lowKeys = new long[LANES];
    private final long[] highKeys = new long[LANES];
    private long high;
    private long low;

    public PageHash128() {
        this(DEFAULT_SEED);
    }

    public PageHash128(long seed) {
        long state = seed;
        for (long[] keys : new long[][] {stripeKeys, scrambleKeys, lowKeys, highKeys}) {
            for (int i = 0; i < keys.length; i++) {
                state += PRIME64_1;
                keys[i] = avalanche(state);
            }
        }
    }

    /**
     * Hashes {@code page}, whose size must be a multiple of 16 bytes (every page size is). Sizes that are not a
     * multiple of 64 (only tiny test pages) are hashed from a zero-padded copy; the size enters the result.
     */
    public void hash(MemorySegment page) {
        long size = page.byteSize();
        if ((size & 15) != 0) {
            throw new IllegalArgumentException("page of " + size + " bytes is not a multiple of 16");
        }
        if ((size & (STRIPE - 1)) != 0) {
            MemorySegment padded = MemorySegment.ofArray(new long[(int) ((size + STRIPE - 1) / STRIPE) * LANES]);
            MemorySegment.copy(page, 0, padded, 0, size);
            hashStripes(padded, size);
        } else {
            hashStripes(page, size);
        }
    }

    private void hashStripes(MemorySegment page, long size) {
        long stripesEnd = page.byteSize();
        long a0 = PRIME32;
        long a1 = PRIME64_1;
        long a2 = PRIME64_2;
        long a3 = PRIME64_1 ^ PRIME64_2;
        long a4 = PRIME64_2 + PRIME32;
        long a5 = PRIME64_1 * 3;
        long a6 = PRIME64_2 * 5;
        long a7 = PRIME32 * 7;
        long[] keys = stripeKeys;
        int stripe = 0;
        for (long at = 0; at < stripesEnd; at += STRIPE) {
            int k = stripe * LANES;
            long d0 = page.get(WORD, at);
            long d1 = page.get(WORD, at + 8);
            long d2 = page.get(WORD, at + 16);
            long d3 = page.get(WORD, at + 24);
            long d4 = page.get(WORD, at + 32);
            long d5 = page.get(WORD, at + 40);
            long d6 = page.get(WORD, at + 48);
            long d7 = page.get(WORD, at + 56);
            long x0 = d0 ^ keys[k];
            long x1 = d1 ^ keys[k + 1];
            long x2 = d2 ^ keys[k + 2];
            long x3 = d3 ^ keys[k + 3];
            long x4 = d4 ^ keys[k + 4];
            long x5 = d5 ^ keys[k + 5];
            long x6 = d6 ^ keys[k + 6];
            long x7 = d7 ^ keys[k + 7];
            a0 += d1 + (x0 & 0xFFFFFFFFL) * (x0 >>> 32);
            a1 += d0 + (x1 & 0xFFFFFFFFL) * (x1 >>> 32);
            a2 += d3 + (x2 & 0xFFFFFFFFL) * (x2 >>> 32);
            a3 += d2 + (x3 & 0xFFFFFFFFL) * (x3 >>> 32);
            a4 += d5 + (x4 & 0xFFFFFFFFL) * (x4 >>> 32);
            a5 += d4 + (x5 & 0xFFFFFFFFL) * (x5 >>> 32);
            a6 += d7 + (x6 & 0xFFFFFFFFL) * (x6 >>> 32);
            a7 += d6 + (x7 & 0xFFFFFFFFL) * (x7 >>> 32);
            if (++stripe == STRIPES_PER_BLOCK) {
                // Sums of products stop mixing over long inputs; a non-linear step per block keeps every bit live
                // and makes the order of blocks matter.
                stripe = 0;
                long[] s = scrambleKeys;
                a0 = scramble(a0, s[0]);
                a1 = scramble(a1, s[1]);
                a2 = scramble(a2, s[2]);
                a3 = scramble(a3, s[3]);
                a4 = scramble(a4, s[4]);
                a5 = scramble(a5, s[5]);
                a6 = scramble(a6, s[6]);
                a7 = scramble(a7, s[7]);
            }
        }
        low = merge(size * PRIME64_1, lowKeys, a0, a1, a2, a3, a4, a5, a6, a7);
        high = merge(~(size * PRIME64_2), highKeys, a0, a1, a2, a3, a4, a5, a6, a7);
    }

    public long high() {
        return high;
    }

    public long low() {
        return low;
    }

    private static long scramble(long lane, long key) {
        return (lane ^ (lane >>> 47) ^ key) * PRIME32;
    }

    private static long merge(long start, long[] k, long a0, long a1, long a2, long a3, long a4, long a5, long a6,
            long a7) {
        long result = start;
        result += fold(a0 ^ k[0], a1 ^ k[1]);
        result += fold(a2 ^ k[2], a3 ^ k[3]);
        result += fold(a4 ^ k[4], a5 ^ k[5]);
        result += fold(a6 ^ k[6], a7 ^ k[7]);
        return avalanche(result);
    }

    /** The 128-bit product of two words, its halves XORed together. */
    private static long fold(long a, long b) {
        return (a * b) ^ Math.unsignedMultiplyHigh(a, b);
    }

    private static long avalanche(long k) {
        k ^= k >>> 33;
        k *= 0xff51afd7ed558ccdL;
        k ^= k >>> 33;
        k *= 0xc4ceb9fe1a85ec53L;
        k ^= k >>> 33;
        return k;
    }
}
