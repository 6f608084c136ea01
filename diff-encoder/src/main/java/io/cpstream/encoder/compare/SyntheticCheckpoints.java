package io.cpstream.encoder.compare;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;

/**
 * Deterministic guest-memory workloads for {@link CodecComparison}: a guest image and a sequence of
 * checkpoints, each dirtying pages drawn from a Zipf distribution over a fixed random order of pages
 * (a hot set with a long tail), written in one of three ways. The same seed gives the same bytes.
 *
 * <p>Memory starts like a guest's: a fifth zero pages, then pages of small integers and pointers
 * (structs, arrays), ASCII text, and random bytes (compressed or encrypted data).
 */
public final class SyntheticCheckpoints implements Iterator<Checkpoint>, AutoCloseable {

    /** How a dirty page is written. */
    public enum Writes {
        /** A few 8-byte words change, as counters and pointers do. */
        SPARSE_WORDS,
        /** One 256-byte run is rewritten with new structured content (a record, a buffer), mostly at the page's hot spot. */
        HOT_RUNS,
        /** The whole page is rewritten with random bytes, and memory starts random: nothing to compress. */
        NOISE
    }

    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final int RUN = 256;
    private static final int VOCABULARY = 2000;

    private final int pageSize;
    private final int pageCount;
    private final int epochs;
    private final int dirtyPerEpoch;
    private final Writes writes;
    private final SplittableRandom random;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment image;
    private final MemorySegment contents;
    private final double[] cumulative;
    private final int[] pageOfRank;
    private final boolean[] picked;
    private int epoch;

    public SyntheticCheckpoints(int pageSize, int pageCount, int epochs, int dirtyPerEpoch, double zipfExponent,
            Writes writes, long seed) {
        if (dirtyPerEpoch > pageCount) {
            throw new IllegalArgumentException("more dirty pages than pages");
        }
        this.pageSize = pageSize;
        this.pageCount = pageCount;
        this.epochs = epochs;
        this.dirtyPerEpoch = dirtyPerEpoch;
        this.writes = writes;
        this.random = new SplittableRandom(seed);
        image = arena.allocate((long) pageSize * pageCount, pageSize);
        contents = arena.allocate((long) pageSize * dirtyPerEpoch, pageSize);
        pageOfRank = new int[pageCount];
        for (int i = 0; i < pageCount; i++) {
            pageOfRank[i] = i;
        }
        for (int i = pageCount - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = pageOfRank[i];
            pageOfRank[i] = pageOfRank[j];
            pageOfRank[j] = t;
        }
        cumulative = new double[pageCount];
        double sum = 0;
        for (int rank = 0; rank < pageCount; rank++) {
            sum += 1 / Math.pow(rank + 1, zipfExponent);
            cumulative[rank] = sum;
        }
        for (int rank = 0; rank < pageCount; rank++) {
            cumulative[rank] /= sum;
        }
        picked = new boolean[pageCount];
        for (int page = 0; page < pageCount; page++) {
            fillInitial(page(page));
        }
    }

    /** The sender's memory as of the last checkpoint returned (before the first: the initial image). */
    public MemorySegment image() {
        return image;
    }

    @Override
    public boolean hasNext() {
        return epoch < epochs;
    }

    /** The next checkpoint; its contents are overwritten by the following call. */
    @Override
    public Checkpoint next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        epoch++;
        long[] pages = pickDirtyPages();
        for (int i = 0; i < pages.length; i++) {
            MemorySegment page = page((int) pages[i]);
            write(page);
            MemorySegment.copy(page, 0, contents, (long) i * pageSize, pageSize);
        }
        return new Checkpoint(epoch, pages, contents, pageSize);
    }

    private long[] pickDirtyPages() {
        long[] pages = new long[dirtyPerEpoch];
        for (int i = 0; i < dirtyPerEpoch; ) {
            int rank = Arrays.binarySearch(cumulative, random.nextDouble());
            rank = rank >= 0 ? rank : Math.min(-rank - 1, pageCount - 1);
            int page = pageOfRank[rank];
            if (!picked[page]) {
                picked[page] = true;
                pages[i++] = page;
            }
        }
        for (long page : pages) {
            picked[(int) page] = false;
        }
        Arrays.sort(pages);
        return pages;
    }

    private void write(MemorySegment page) {
        switch (writes) {
            case SPARSE_WORDS -> {
                int words = 1 + random.nextInt(4);
                for (int w = 0; w < words; w++) {
                    long at = (long) random.nextInt(pageSize / 8) * 8;
                    long old = page.get(WORD, at);
                    long updated = random.nextBoolean()
                            ? old + 1 + random.nextInt(255)                     // a counter ticks
                            : (old & ~0xFFFFFFL) | random.nextInt(1 << 24);     // a pointer moves within its arena
                    page.set(WORD, at, updated == old ? old + 1 : updated);
                }
            }
            case HOT_RUNS -> {
                int runs = pageSize / RUN;
                long hotSpot = (long) (Math.floorMod(page.address() * 0x9E3779B97F4A7C15L >>> 40, runs)) * RUN;
                long at = random.nextInt(5) == 0 ? (long) random.nextInt(runs) * RUN : hotSpot;
                for (long w = at; w < at + RUN; w += 8) {
                    page.set(WORD, w, structuredWord(w));
                }
            }
            case NOISE -> fillRandom(page);
        }
    }

    private void fillInitial(MemorySegment page) {
        if (writes == Writes.NOISE) {
            fillRandom(page);
            return;
        }
        int kind = random.nextInt(10);
        if (kind < 2) {
            return; // zero page
        }
        if (kind < 6) {
            for (long w = 0; w < pageSize; w += 8) {
                page.set(WORD, w, structuredWord(w));
            }
        } else if (kind < 9) {
            fillText(page);
        } else {
            fillRandom(page);
        }
    }

    /**
     * Text as guests hold it (logs, source, markup): words from a vocabulary, the frequent ones far more often,
     * so it repeats itself the way real text does and LZ4 finds matches.
     */
    private void fillText(MemorySegment page) {
        long b = 0;
        while (b < pageSize) {
            int rank = (int) Math.min(VOCABULARY - 1, Math.floor(Math.pow(VOCABULARY, random.nextDouble())) - 1);
            long wordSeed = rank * 0x9E3779B97F4A7C15L;
            int length = 2 + (int) ((wordSeed >>> 60) & 7);
            for (int c = 0; c < length && b < pageSize; c++, b++) {
                page.set(ValueLayout.JAVA_BYTE, b, (byte) ('a' + (int) Long.remainderUnsigned(wordSeed >>> (c * 5), 26)));
            }
            if (b < pageSize) {
                page.set(ValueLayout.JAVA_BYTE, b++, (byte) ' ');
            }
        }
    }

    /** A word as structs hold them: mostly small integers, some pointers into a heap, some flags. */
    private long structuredWord(long offset) {
        return switch (random.nextInt(4)) {
            case 0, 1 -> random.nextInt(1 << 12);
            case 2 -> 0x00007f3a_00000000L | (random.nextLong() & 0xFFFFFFF8L);
            default -> offset;
        };
    }

    private void fillRandom(MemorySegment page) {
        for (long w = 0; w < pageSize; w += 8) {
            page.set(WORD, w, random.nextLong());
        }
    }

    private MemorySegment page(int index) {
        return image.asSlice((long) index * pageSize, pageSize);
    }

    @Override
    public void close() {
        arena.close();
    }
}
