package io.cpstream.tracker.sim;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import org.apache.commons.rng.UniformRandomProvider;
import org.apache.commons.rng.sampling.distribution.RejectionInversionZipfSampler;
import org.apache.commons.rng.sampling.distribution.SharedStateDiscreteSampler;
import org.apache.commons.rng.simple.RandomSource;

/**
 * The shapes of memory writes a synthetic guest can make. Each writer thread asks its workload for
 * one operation at a time; an operation writes into exactly one page and returns that page.
 */
public enum Workload {
    /** A random page is rewritten completely with fresh random bytes. */
    UNIFORM,
    /** A few hot pages take most writes (Zipf, exponent 1.1); each write changes a 256-byte run. */
    ZIPF,
    /** Pages are rewritten whole in address order, wrapping around (a streaming copy or scan). */
    SCAN,
    /** A random page gets one to four 8-byte words changed (counters, pointers, flags). */
    SPARSE,
    /** A random page is either cleared to zero or gets a 512-byte run written (freed and reused memory). */
    ZERO,
    /** Every operation picks one of the shapes above at random. */
    MIXED,
    /**
     * A dirty set made mostly of stable pages: a small hot set (the first {@code hot-pages} pages) takes
     * {@code hot-share} percent of the writes as 256-byte runs; every other write appends the next 1 KiB
     * of a log that sweeps the rest of memory, so each of those pages is written in one burst and then
     * not again until the log wraps around, many epochs later (an append-only log, a copying collector).
     */
    STABLE;

    /** Shape parameters of the {@link #STABLE} workload. */
    public record Stable(int hotPages, int hotSharePercent) {
        public static final Stable DEFAULT = new Stable(64, 20);
    }

    /** Called with the page an operation is about to write, before it writes (copy-before-write hooks in here). */
    @FunctionalInterface
    interface PageGuard {
        void beforeWrite(int page);
    }

    private static final int LOG_CHUNK = 1024;

    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED;

    public static Workload parse(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown sim workload '" + name
                    + "'; known: uniform, zipf, scan, sparse, zero, mixed, stable");
        }
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Per-writer state: its random stream, Zipf sampler and scan cursor. */
    static final class Writer {
        private final Workload workload;
        private final MemorySegment memory;
        private final int pageSize;
        private final int pageCount;
        private final UniformRandomProvider random;
        private final SharedStateDiscreteSampler zipf;
        private final PageGuard guard;
        private final Stable stable;
        private int scanCursor;
        /** STABLE: byte offset of the log's next chunk, within the pages after the hot set. */
        private long logCursor;

        Writer(Workload workload, MemorySegment memory, int pageSize, int pageCount, long seed, int writerIndex,
               int writerCount, Stable stable, PageGuard guard) {
            this.workload = workload;
            this.memory = memory;
            this.pageSize = pageSize;
            this.pageCount = pageCount;
            this.guard = guard;
            this.random = RandomSource.XO_SHI_RO_256_PP.create(seed * 31 + writerIndex);
            this.zipf = RejectionInversionZipfSampler.of(random, pageCount, 1.1);
            this.scanCursor = (int) ((long) pageCount * writerIndex / writerCount);
            this.stable = new Stable(Math.min(stable.hotPages(), pageCount - 1), stable.hotSharePercent());
            long logBytes = (long) (pageCount - this.stable.hotPages()) * pageSize;
            this.logCursor = logBytes * writerIndex / writerCount / LOG_CHUNK * LOG_CHUNK;
        }

        /** Performs one write and returns the page it touched; the guard sees the page before the write. */
        int step() {
            Workload shape = workload == MIXED ? values()[random.nextInt(MIXED.ordinal())] : workload;
            return switch (shape) {
                case UNIFORM -> fillRandom(random.nextInt(pageCount), 0, pageSize);
                case ZIPF -> fillRandom(zipf.sample() - 1, alignedOffset(256), 256);
                case SCAN -> {
                    int page = scanCursor;
                    scanCursor = scanCursor + 1 == pageCount ? 0 : scanCursor + 1;
                    yield fillRandom(page, 0, pageSize);
                }
                case STABLE -> {
                    if (random.nextInt(100) < stable.hotSharePercent()) {
                        yield fillRandom(random.nextInt(stable.hotPages()), alignedOffset(256), 256);
                    }
                    long logBytes = (long) (pageCount - stable.hotPages()) * pageSize;
                    long at = logCursor;
                    logCursor = (logCursor + LOG_CHUNK) % logBytes;
                    int page = stable.hotPages() + (int) (at / pageSize);
                    yield fillRandom(page, (int) (at % pageSize), LOG_CHUNK);
                }
                case SPARSE -> {
                    int page = random.nextInt(pageCount);
                    guard.beforeWrite(page);
                    int words = 1 + random.nextInt(4);
                    for (int i = 0; i < words; i++) {
                        memory.set(WORD, (long) page * pageSize + alignedOffset(8), random.nextLong());
                    }
                    yield page;
                }
                case ZERO -> {
                    int page = random.nextInt(pageCount);
                    if (random.nextBoolean()) {
                        guard.beforeWrite(page);
                        memory.asSlice((long) page * pageSize, pageSize).fill((byte) 0);
                        yield page;
                    }
                    yield fillRandom(page, alignedOffset(512), 512);
                }
                case MIXED -> throw new AssertionError("MIXED picks a concrete shape");
            };
        }

        private int alignedOffset(int length) {
            return random.nextInt((pageSize - length) / 8 + 1) * 8;
        }

        private int fillRandom(int page, int offset, int length) {
            guard.beforeWrite(page);
            long base = (long) page * pageSize + offset;
            for (int i = 0; i < length; i += 8) {
                memory.set(WORD, base + i, random.nextLong());
            }
            return page;
        }
    }
}
