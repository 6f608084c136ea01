package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Writes the runs of a delta ({@link DeltaFormat}) between a page and its base.
 *
 * <p>A run starts at a changed byte. A single unchanged byte inside a changed stretch stays in the run (one XOR
 * byte is never dearer than a new run header); two unchanged bytes in a row, or an unchanged last byte, end it.
 * The writer gives up as soon as the output passes a limit.
 *
 * <p>Both pages are first copied into heap arrays and XORed a word at a time; runs are then found on the XOR
 * words with branch-free byte tests (a zero byte is an unchanged one), eight bytes per step, and their bytes
 * copied out with {@code System.arraycopy}. Reading the pages in place through {@code MemorySegment} accessors
 * cost 11 µs for a page with a hundred short runs, and twice that once the same call site had seen native,
 * mapped and heap segments (the agent's staging, the collector's image, a base cache); over arrays the access
 * is the same whatever the segments are, at a few hundred nanoseconds a page.
 */
final class DeltaRunWriter {

    /** Words read and written little-endian whatever the platform, so byte {@code j} of a word is address i+j. */
    private static final VarHandle WORDS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long LOW_SEVEN = 0x7F7F7F7F7F7F7F7FL;
    /** One per thread: the writer is called from encoders and classifiers that each live on one thread. */
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * Heap copies of one page pair: {@code xor} takes the page and then, in place, its XOR with {@code base}. Both are
     * padded with zero bytes to whole words; {@code xor} has one more zero word, a sentinel of unchanged bytes.
     */
    private static final class Scratch {
        private byte[] xor = new byte[0];
        private byte[] base = new byte[0];

        Scratch fit(int pageSize) {
            int wordCount = (pageSize + Long.BYTES - 1) / Long.BYTES;
            if (base.length != wordCount * Long.BYTES) {
                xor = new byte[(wordCount + 1) * Long.BYTES];
                base = new byte[wordCount * Long.BYTES];
            }
            return this;
        }
    }

    private DeltaRunWriter() {
    }

    /**
     * Writes the runs turning {@code base} into {@code page} at {@code out[from...]}.
     *
     * @param limit      give up once the output would end past this offset; {@code out} must have
     *                   {@code limit + DeltaFormat.MAX_RUN_HEADER} bytes of room
     * @return the offset just past the last run, or -1 if the delta would exceed {@code limit}
     */
    static int writeRuns(MemorySegment page, MemorySegment base, int pageSize, byte[] out, int from,
            int limit) {
        Scratch scratch = SCRATCH.get().fit(pageSize);
        int wordCount = xor(page, base, pageSize, scratch);
        byte[] xor = scratch.xor;
        int o = from;
        int position = 0;
        int previousEnd = 0;
        while (position < pageSize) {
            int start = nextChanged(xor, wordCount, position);
            if (start < 0 || start >= pageSize) {
                break;
            }
            int end = runEnd(xor, wordCount, start, pageSize);
            int length = end - start;
            int skip = start - previousEnd;
            if (o + DeltaFormat.MAX_RUN_HEADER + length > limit) {
                return -1;
            }
            o = DeltaFormat.writeHeader(out, o, skip, length);
            System.arraycopy(xor, start, out, o, length);
            o += length;
            previousEnd = end;
            position = end;
        }
        return o;
    }

    /** Words compared before the full pass; pages of fewer than two words per sampled word are not sampled. */
    static final int SAMPLED_WORDS = 32;

    /**
     * Whether every one of {@value #SAMPLED_WORDS} words spread over the page (one per stripe, at a different offset
     * within each so that no stride of writes lines up with them all) changed. Such a page was rewritten wholesale
     * (a copy, a decompression, fresh random data), and its delta would be about the page itself; finding that out
     * with the full copy, XOR and run scan was half the sender's CPU when the guest rewrites whole pages, and a sixth
     * of the collector's (its classifier runs the same pass). Pages with a few changed stretches leave most sampled
     * words equal, so their deltas are still found; what is given up is the odd delta a few bytes short of the whole
     * page. Callers ask before {@link #writeRuns}, which stays exact.
     */
    static boolean rewrittenWholesale(MemorySegment page, MemorySegment base, int pageSize) {
        int stripe = pageSize / SAMPLED_WORDS & -Long.BYTES;
        if (stripe < 2 * Long.BYTES) {
            return false;
        }
        int slots = stripe / Long.BYTES;
        for (int i = 0; i < SAMPLED_WORDS; i++) {
            long offset = (long) i * stripe + (long) ((i * 5 + 3) % slots) * Long.BYTES;
            if (page.get(ValueLayout.JAVA_LONG_UNALIGNED, offset) == base.get(ValueLayout.JAVA_LONG_UNALIGNED, offset)) {
                return false;
            }
        }
        return true;
    }

    /** Copies both pages to the scratch arrays and XORs them; returns the number of words (padding included). */
    private static int xor(MemorySegment page, MemorySegment base, int pageSize, Scratch scratch) {
        MemorySegment.copy(page, ValueLayout.JAVA_BYTE, 0, scratch.xor, 0, pageSize);
        MemorySegment.copy(base, ValueLayout.JAVA_BYTE, 0, scratch.base, 0, pageSize);
        // A page size that is no multiple of eight leaves padding another page size may have written: clear it.
        int wordCount = scratch.base.length / Long.BYTES;
        java.util.Arrays.fill(scratch.xor, pageSize, wordCount * Long.BYTES, (byte) 0);
        java.util.Arrays.fill(scratch.base, pageSize, scratch.base.length, (byte) 0);
        for (int at = 0; at < wordCount * Long.BYTES; at += Long.BYTES) {
            WORDS.set(scratch.xor, at, word(scratch.xor, at) ^ word(scratch.base, at));
        }
        return wordCount;
    }

    private static long word(byte[] bytes, int at) {
        return (long) WORDS.get(bytes, at);
    }

    /** The first changed byte at or after {@code from}, or -1. */
    private static int nextChanged(byte[] xor, int wordCount, int from) {
        int w = from >>> 3;
        if (w >= wordCount) {
            return -1;
        }
        long word = word(xor, w << 3) & (-1L << ((from & 7) << 3));
        while (word == 0) {
            if (++w >= wordCount) {
                return -1;
            }
            word = word(xor, w << 3);
        }
        return (w << 3) + (Long.numberOfTrailingZeros(word) >>> 3);
    }

    /**
     * Where the run starting at {@code start} (a changed byte) ends: the first unchanged byte followed by another
     * unchanged one (or by the end of the page), or the end of the page.
     */
    private static int runEnd(byte[] xor, int wordCount, int start, int pageSize) {
        int w = start >>> 3;
        long mask = -1L << ((start & 7) << 3);
        long unchanged = zeroBytes(word(xor, w << 3));
        while (true) {
            long next = zeroBytes(word(xor, (w + 1) << 3)); // the sentinel word past the page counts as unchanged
            // Byte j starts a pair of unchanged bytes if j and j+1 are both unchanged; byte 7 pairs with the next
            // word's byte 0 (its flag, bit 7, moved to bit 63).
            long pairs = (unchanged & (unchanged >>> 8) | unchanged & (next << 56)) & mask;
            if (pairs != 0) {
                return Math.min(pageSize, (w << 3) + (Long.numberOfTrailingZeros(pairs) >>> 3));
            }
            if (++w >= wordCount) {
                return pageSize;
            }
            unchanged = next;
            mask = -1L;
        }
    }

    /** The high bit of each zero byte of {@code word}, and nothing else (exact: no borrow crosses bytes). */
    private static long zeroBytes(long word) {
        return ~(((word & LOW_SEVEN) + LOW_SEVEN) | word | LOW_SEVEN);
    }
}
