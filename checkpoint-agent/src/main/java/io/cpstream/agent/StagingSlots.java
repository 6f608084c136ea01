package io.cpstream.agent;

import java.util.BitSet;

/**
 * Where each planned page sits in a checkpoint's staging buffer: pages are staged in ascending page
 * order, one slot each, so a page's slot is its rank among the planned pages. Ranking by word popcounts
 * lets the stun visit only the pages it copies (the hot ones) instead of walking every planned page to
 * count its way to their slots.
 */
final class StagingSlots {

    private final long[] words;
    /** Planned pages in the words before each word. */
    private final int[] before;

    StagingSlots(BitSet planned) {
        this.words = planned.toLongArray();
        this.before = new int[words.length];
        int count = 0;
        for (int i = 0; i < words.length; i++) {
            before[i] = count;
            count += Long.bitCount(words[i]);
        }
    }

    /** The planned pages in slots {@code slot} and after: those a buffer of {@code slot} slots cannot hold. */
    BitSet fromSlot(int slot) {
        long[] beyond = new long[words.length];
        for (int word = 0; word < words.length; word++) {
            int skip = slot - before[word];
            long bits = words[word];
            if (skip >= Long.bitCount(bits)) {
                continue; // every planned page of this word has a slot below {@code slot}
            }
            for (; skip > 0; skip--) {
                bits &= bits - 1; // drop the lowest: it still has a slot below {@code slot}
            }
            beyond[word] = bits;
        }
        return BitSet.valueOf(beyond);
    }

    /** The slot of {@code page}, which must be one of the planned pages. */
    int slot(int page) {
        int word = page >>> 6;
        long bit = 1L << (page & 63);
        if (page < 0 || word >= words.length || (words[word] & bit) == 0) {
            throw new IllegalArgumentException("page " + page + " is not in the plan");
        }
        return before[word] + Long.bitCount(words[word] & (bit - 1));
    }
}
