package io.cpstream.agent;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.BitSet;

/**
 * How often and how recently each guest page was written: one byte per page, a shift register of its
 * dirty bits over the last {@value #EPOCHS} epochs (bit 0 is the newest epoch). One byte per page is
 * the whole cost (16 KiB for a 64 MiB guest), and recording an epoch is a shift of every register
 * plus one bit per dirty page.
 *
 * <p>At a stun it tells which dirty pages are <em>hot</em> (written in one of the last {@code recent}
 * epochs before this one, so likely to be written again right after the guest resumes: copy them while
 * it is stopped) and which are <em>stable</em> (quiet before this epoch: write-protect them and copy
 * them after the guest resumed). The delta base cache may use the same figures to judge which pages
 * are worth keeping a base copy of.
 *
 * <p>The split happens inside the stun, so {@link #record} (called after the resume) also keeps a bitmap of
 * the hot pages: the stun then classifies 64 pages per word operation instead of testing each dirty page.
 *
 * <p>Written by the epoch loop only; other threads may read and see each page's register as of the
 * last or the one before last recorded epoch ({@link #stable} is for the epoch loop alone).
 */
public final class PageHistory {

    /** Epochs the register of a page remembers. */
    public static final int EPOCHS = 8;
    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
    /** Every byte's lowest bit: where the newest epoch enters. */
    private static final long LOW_BITS = 0x0101_0101_0101_0101L;
    private static final long HIGH_BITS = 0x8080_8080_8080_8080L;
    private static final long LOW_SEVEN_BITS = 0x7F7F_7F7F_7F7F_7F7FL;
    /** Multiplying bits that sit at 0, 8, ..., 56 by this gathers them into the top byte, bit i from byte i. */
    private static final long GATHER_BYTE_BITS = 0x0102_0408_1020_4080L;

    private final int pageCount;
    private final int recent;
    private final int recentMask;
    /** {@code recentMask} in every byte: the bits of eight registers that make their pages hot. */
    private final long recentBytes;
    /** Eight registers per word: page p is byte (p & 7) of word p >>> 3. */
    private final long[] registers;
    /** Page p is hot as of the last recorded epoch: bit p (the epoch loop's own, rebuilt by {@link #record}). */
    private BitSet hot = new BitSet();
    private long epochsRecorded;

    /**
     * @param recent how many of the latest recorded epochs make a page hot when it was written in one of
     *               them (1..{@value #EPOCHS})
     */
    public PageHistory(int pageCount, int recent) {
        if (recent < 1 || recent > EPOCHS) {
            throw new IllegalArgumentException("recent must be 1.." + EPOCHS + ", not " + recent);
        }
        this.pageCount = pageCount;
        this.recent = recent;
        this.recentMask = (1 << recent) - 1;
        this.recentBytes = recentMask * LOW_BITS;
        this.registers = new long[(pageCount + 7) / 8];
    }

    public int pageCount() {
        return pageCount;
    }

    /** Epochs recorded so far. */
    public long epochsRecorded() {
        return epochsRecorded;
    }

    /** The page's dirty bits over the last {@value #EPOCHS} recorded epochs, bit 0 the newest. */
    public int register(int page) {
        long word = (long) WORDS.getOpaque(registers, page >>> 3);
        return (int) (word >>> ((page & 7) * 8)) & 0xFF;
    }

    /** In how many of the last {@value #EPOCHS} recorded epochs the page was written. */
    public int writeCount(int page) {
        return Integer.bitCount(register(page));
    }

    /**
     * Recorded epochs since the page was last written: 0 if in the newest, {@value #EPOCHS} or more if not in
     * any the register remembers.
     */
    public int epochsSinceWrite(int page) {
        int register = register(page);
        return register == 0 ? EPOCHS : Integer.numberOfTrailingZeros(register);
    }

    /** Whether the page was written in one of the last {@code recent} recorded epochs: likely to be written again soon. */
    public boolean hot(int page) {
        return (register(page) & recentMask) != 0;
    }

    /** The pages of {@code pages} that are not {@link #hot}: candidates for copying after the guest resumed. */
    public BitSet stable(BitSet pages) {
        BitSet stable = (BitSet) pages.clone();
        stable.andNot(hot);
        if (stable.length() > pageCount) {
            stable.clear(pageCount, stable.length());
        }
        return stable;
    }

    /**
     * As {@link #stable(BitSet)}, keeping only runs of at least {@code minRun} consecutive stable pages (the
     * rest are cheaper to copy than to protect on sources where protection costs per run).
     */
    public BitSet stable(BitSet pages, int minRun) {
        BitSet stable = stable(pages);
        if (minRun <= 1) {
            return stable;
        }
        for (int start = stable.nextSetBit(0); start >= 0; ) {
            int end = stable.nextClearBit(start);
            if (end - start < minRun) {
                stable.clear(start, end);
            }
            start = stable.nextSetBit(end);
        }
        return stable;
    }

    /** Appends one epoch: the pages in {@code dirty} were written in it. */
    public void record(BitSet dirty) {
        for (int i = 0; i < registers.length; i++) {
            long word = registers[i];
            if (word != 0) {
                // Shift every byte up by one; what falls off the top of a byte is forgotten.
                WORDS.setOpaque(registers, i, (word << 1) & ~LOW_BITS);
            }
        }
        for (int page = dirty.nextSetBit(0); page >= 0 && page < pageCount; page = dirty.nextSetBit(page + 1)) {
            int i = page >>> 3;
            WORDS.setOpaque(registers, i, registers[i] | (1L << ((page & 7) * 8)));
        }
        epochsRecorded++;
        hot = hotPages();
    }

    /** Which pages are hot now, eight registers per step: a byte is hot when its recent bits are not all 0. */
    private BitSet hotPages() {
        long[] words = new long[(registers.length + 7) / 8];
        for (int i = 0; i < registers.length; i++) {
            long recentBits = registers[i] & recentBytes;
            if (recentBits == 0) {
                continue;
            }
            // The top bit of each byte becomes "this byte is not 0"; the adds cannot carry across bytes.
            long nonZero = (((recentBits & LOW_SEVEN_BITS) + LOW_SEVEN_BITS) | recentBits) & HIGH_BITS;
            long eightPages = ((nonZero >>> 7) * GATHER_BYTE_BITS) >>> 56;
            words[i >>> 3] |= eightPages << ((i & 7) * 8);
        }
        return BitSet.valueOf(words);
    }

    @Override
    public String toString() {
        return "PageHistory[" + pageCount + " pages, hot = written in the last " + recent + " epoch(s)]";
    }
}
