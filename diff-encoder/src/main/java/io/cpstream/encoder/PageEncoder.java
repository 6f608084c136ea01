package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * Picks the smallest encoding of each dirty page within a bounded CPU cost:
 * <ol>
 * <li>ZERO when the page is all zero bytes (one vectorised compare);</li>
 * <li>DUPLICATE when a {@link DuplicateIndex} says the receiver holds the same content (one 128-bit hash),
 *     possibly as this same page (rewritten with the bytes it had);</li>
 * <li>DELTA against the base the caller holds, when it is smaller than a page (one pass, abandoned as soon as
 *     it would not fit), or DELTA_LZ4, LZ4 over its runs, when that pays;</li>
 * <li>LZ4 of the whole page when there is no useful delta and it saves at least {@link #MIN_LZ4_SAVING} bytes;</li>
 * <li>FULL otherwise.</li>
 * </ol>
 * So a page costs at most one hash, one delta pass and two LZ4 compressions, whatever its content; the agent
 * skips the hash while duplicates are rare ({@link DuplicateIndex#shouldLookUp}) and LZ4 on bytes that did not
 * compress lately ({@link Lz4Backoff}).
 *
 * <p>Allocation-aware: scratch space is allocated once per encoder. A payload other than FULL is a view of
 * that scratch space, valid until the next call; a FULL payload is a read-only view of the page itself.
 * Not thread-safe: one encoder per encoding thread.
 */
public final class PageEncoder {

    public static final int DEFAULT_PAGE_SIZE = 4096;

    /**
     * LZ4 of a whole page is used only if it saves at least this much: below that the receiver's decompression
     * costs more than the bytes are worth, and FULL stays within 2% of plain LZ4 on incompressible pages.
     */
    public static final int MIN_LZ4_SAVING = 64;

    /** Runs shorter than this are not worth an LZ4 attempt: too few bytes for a match to pay its token. */
    static final int MIN_DELTA_LZ4_INPUT = 48;

    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0).asReadOnlyBuffer();

    private final int pageSize;
    /** A delta only pays if it is at most this fraction of a page; above it the whole page is tried with LZ4 too. */
    private final int deltaGoodEnough;
    private final CRC32C crc = new CRC32C();
    private final PageHash128 hasher = new PageHash128();

    private final byte[] pageBytes;
    private final byte[] lz4Page;
    private final ByteBuffer lz4PageView;
    private final byte[] deltaPlain;
    private final ByteBuffer deltaPlainView;
    private final byte[] deltaLz4;
    private final ByteBuffer deltaLz4View;

    public PageEncoder() {
        this(DEFAULT_PAGE_SIZE);
    }

    public PageEncoder(int pageSize) {
        if (pageSize < 16 || pageSize > 1 << 16 || (pageSize & 15) != 0) {
            throw new IllegalArgumentException("unsupported page size " + pageSize);
        }
        this.pageSize = pageSize;
        this.deltaGoodEnough = pageSize / 4;
        pageBytes = new byte[pageSize];
        lz4Page = new byte[Lz4Pages.maxCompressedLength(pageSize)];
        lz4PageView = ByteBuffer.wrap(lz4Page).asReadOnlyBuffer();
        deltaPlain = new byte[pageSize + DeltaFormat.MAX_RUN_HEADER];
        deltaPlainView = ByteBuffer.wrap(deltaPlain).asReadOnlyBuffer();
        deltaLz4 = new byte[Varints.MAX_INT_BYTES + Lz4Pages.maxCompressedLength(pageSize)];
        deltaLz4View = ByteBuffer.wrap(deltaLz4).asReadOnlyBuffer();
    }

    public int pageSize() {
        return pageSize;
    }

    /** Encodes {@code page} with no receiver context: ZERO, LZ4 or FULL. */
    public EncodedPage encode(MemorySegment page) {
        return encode(page, null, 0);
    }

    /**
     * Encodes {@code page}, as a delta against {@code base} when that is smallest.
     *
     * @param base        the exact bytes the receiver holds for this page, or null when the caller holds none
     * @param baseVersion the epoch of the receiver's copy that {@code base} equals; travels in the record
     */
    public EncodedPage encode(MemorySegment page, MemorySegment base, long baseVersion) {
        checkPage(page);
        int pageCrc = crc32c(page);
        if (ZeroPages.isZero(page)) {
            return new EncodedPage(PageEncoding.ZERO, EMPTY, pageCrc);
        }
        return encodeNonZero(-1, page, base, baseVersion, pageCrc, null);
    }

    /**
     * Encodes page {@code pageIndex}, also looking for a page the receiver holds (at the checkpoint's base) with
     * the same content, possibly this very page, and records the page in {@code duplicates} as pending: the
     * caller {@link DuplicateIndex#publish publishes} once the whole checkpoint is encoded.
     */
    public EncodedPage encode(long pageIndex, MemorySegment page, MemorySegment base, long baseVersion,
            DuplicateIndex duplicates) {
        return encode(pageIndex, page, base, baseVersion, duplicates, null);
    }

    /**
     * As {@link #encode(long, MemorySegment, MemorySegment, long, DuplicateIndex)}, but LZ4 is offered the whole
     * page, or the runs of its delta, only when {@code lz4} says it is worth trying on this page (it did not
     * compress lately: the attempt is skipped for a while), and what each attempt came to is reported to it.
     * The page is hashed and looked up only when {@link DuplicateIndex#shouldLookUp} says that pays.
     *
     * @param lz4 per-page LZ4 backoff of the stream, or null to try LZ4 whenever it might pay
     */
    public EncodedPage encode(long pageIndex, MemorySegment page, MemorySegment base, long baseVersion,
            DuplicateIndex duplicates, Lz4Backoff lz4) {
        checkPage(page);
        int pageCrc = crc32c(page);
        if (ZeroPages.isZero(page)) {
            duplicates.forgetPending(pageIndex);
            return new EncodedPage(PageEncoding.ZERO, EMPTY, pageCrc);
        }
        if (!duplicates.shouldLookUp()) {
            duplicates.forgetPending(pageIndex);
            return encodeNonZero(pageIndex, page, base, baseVersion, pageCrc, lz4);
        }
        hasher.hash(page);
        long high = hasher.high();
        long low = hasher.low();
        long source = duplicates.find(high, low);
        duplicates.recordPending(pageIndex, high, low);
        if (source >= 0) {
            return new EncodedPage(PageEncoding.DUPLICATE, EMPTY, pageCrc, 0, source);
        }
        return encodeNonZero(pageIndex, page, base, baseVersion, pageCrc, lz4);
    }

    private EncodedPage encodeNonZero(long pageIndex, MemorySegment page, MemorySegment base, long baseVersion,
            int pageCrc, Lz4Backoff lz4) {
        EncodedPage best = null;
        int bestBytes = pageSize;
        if (base != null) {
            if (base.byteSize() != pageSize) {
                throw new IllegalArgumentException("base is " + base.byteSize() + " bytes, page is " + pageSize);
            }
            best = encodeDelta(pageIndex, page, base, baseVersion, pageCrc, lz4);
            if (best != null) {
                bestBytes = best.payloadBytes();
            }
        }
        if (bestBytes > deltaGoodEnough && shouldTry(lz4, Lz4Backoff.Input.PAGE, pageIndex)) {
            MemorySegment.copy(page, 0, MemorySegment.ofArray(pageBytes), 0, pageSize);
            int compressed = Lz4Pages.compress(pageBytes, 0, pageSize, lz4Page, 0);
            boolean compresses = compressed + MIN_LZ4_SAVING <= pageSize;
            tried(lz4, Lz4Backoff.Input.PAGE, pageIndex, compressed < pageSize);
            if (compresses && compressed < bestBytes) {
                lz4PageView.clear().limit(compressed);
                return new EncodedPage(PageEncoding.LZ4, lz4PageView, pageCrc);
            }
        }
        if (best != null) {
            return best;
        }
        return new EncodedPage(PageEncoding.FULL, page.asReadOnly().asByteBuffer(), pageCrc);
    }

    /**
     * The delta of {@code page} against {@code base}: its runs (DELTA), or LZ4 over them when that is smaller
     * (DELTA_LZ4: {@code uleb128(runBytes)} and the block); null when the runs would not be smaller than the page.
     */
    private EncodedPage encodeDelta(long pageIndex, MemorySegment page, MemorySegment base, long baseVersion,
            int pageCrc, Lz4Backoff lz4) {
        if (DeltaRunWriter.rewrittenWholesale(page, base, pageSize)) {
            return null;
        }
        int runBytes = DeltaRunWriter.writeRuns(page, base, pageSize, deltaPlain, 0, pageSize - 1);
        if (runBytes < 0) {
            return null;
        }
        if (runBytes >= MIN_DELTA_LZ4_INPUT && shouldTry(lz4, Lz4Backoff.Input.RUNS, pageIndex)) {
            int header = Varints.write(deltaLz4, 0, runBytes);
            int compressed = Lz4Pages.compress(deltaPlain, 0, runBytes, deltaLz4, header);
            tried(lz4, Lz4Backoff.Input.RUNS, pageIndex, compressed < runBytes);
            if (header + compressed < runBytes) {
                deltaLz4View.clear().limit(header + compressed);
                return new EncodedPage(PageEncoding.DELTA_LZ4, deltaLz4View, pageCrc, baseVersion, 0);
            }
        }
        deltaPlainView.clear().limit(runBytes);
        return new EncodedPage(PageEncoding.DELTA, deltaPlainView, pageCrc, baseVersion, 0);
    }

    private static boolean shouldTry(Lz4Backoff lz4, Lz4Backoff.Input input, long pageIndex) {
        return lz4 == null || lz4.shouldTry(input, (int) pageIndex);
    }

    private static void tried(Lz4Backoff lz4, Lz4Backoff.Input input, long pageIndex, boolean compressed) {
        if (lz4 != null) {
            lz4.tried(input, (int) pageIndex, compressed);
        }
    }

    private int crc32c(MemorySegment page) {
        crc.reset();
        crc.update(page.asByteBuffer());
        return (int) crc.getValue();
    }

    private void checkPage(MemorySegment page) {
        if (page.byteSize() != pageSize) {
            throw new IllegalArgumentException("page is " + page.byteSize() + " bytes, encoder is for " + pageSize);
        }
    }
}
