package io.cpstream.encoder.compare;

import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.PageChecksums;
import io.cpstream.encoder.PageDecoder;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.encoder.ReceiverPages;
import io.cpstream.encoder.XbzrleFormat;
import io.cpstream.encoder.ZeroPages;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * Baseline: QEMU's XBZRLE as its migration documentation describes it and {@code migration/ram.c} implements it
 * ({@code save_xbzrle_page}, {@code xbzrle_cache_zero_page}, {@code cache_insert}). Zero pages are sent as such
 * (QEMU checks for them first) and cached as zero pages; every other page sent is kept in a page cache (64 MiB by
 * default) indexed by page number, direct-mapped, where an entry used in the last two checkpoints is not
 * displaced; a page found in the cache travels as an {@link XbzrleFormat} delta against it, or whole when that
 * overflows (and the cache takes the new content either way); a page not found travels whole.
 * The DELTA records here carry XBZRLE bytes, which only this codec's receiver understands.
 *
 * <p>As in QEMU, the cache starts being used (and filled) only after the first complete pass over guest memory
 * (QEMU's {@code xbzrle_started}, set when the bulk stage wraps around): the pages of the initial full sync
 * travel plainly and are not cached.
 */
public final class XbzrleCodec implements StreamCodec {

    public static final long DEFAULT_CACHE_BYTES = 64L << 20;
    /** QEMU keeps a cached page for this many cache generations before another page may take its slot. */
    private static final long CACHED_PAGE_LIFETIME = 2;

    private final int pageSize;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment[] cachedCopy;
    private final long[] cachedPage;
    private final long[] cachedAge;
    private final byte[] encoded;
    private final byte[] received;
    private final PageDecoder decoder;

    public XbzrleCodec(int pageSize) {
        this(pageSize, DEFAULT_CACHE_BYTES);
    }

    public XbzrleCodec(int pageSize, long cacheBytes) {
        this.pageSize = pageSize;
        int slots = (int) Math.max(1, cacheBytes / pageSize);
        MemorySegment block = arena.allocate((long) slots * pageSize, pageSize);
        cachedCopy = new MemorySegment[slots];
        for (int i = 0; i < slots; i++) {
            cachedCopy[i] = block.asSlice((long) i * pageSize, pageSize);
        }
        cachedPage = new long[slots];
        java.util.Arrays.fill(cachedPage, -1);
        cachedAge = new long[slots];
        encoded = new byte[pageSize];
        received = new byte[pageSize];
        decoder = new PageDecoder(pageSize);
    }

    @Override
    public String name() {
        return "xbzrle";
    }

    private boolean bulkStage;

    @Override
    public void beginCheckpoint(Checkpoint checkpoint) {
        bulkStage = checkpoint.fullSync();
    }

    @Override
    public EncodedPage encode(long epoch, long page, MemorySegment content) {
        int crc = PageChecksums.crc32c(content);
        if (bulkStage) {
            return ZeroPages.isZero(content) ? new EncodedPage(PageEncoding.ZERO, ByteBuffer.allocate(0), crc)
                    : full(content, crc);
        }
        int slot = (int) (page % cachedCopy.length);
        boolean cached = cachedPage[slot] == page;
        if (ZeroPages.isZero(content)) {
            // QEMU's xbzrle_cache_zero_page: the zero page goes into the cache like any page sent, so that a later
            // small write into it travels as a delta.
            insert(slot, page, epoch, content);
            return new EncodedPage(PageEncoding.ZERO, ByteBuffer.allocate(0), crc);
        }
        if (!cached) {
            insert(slot, page, epoch, content);
            return full(content, crc);
        }
        int length = XbzrleFormat.encode(cachedCopy[slot], content, pageSize, encoded);
        cachedCopy[slot].copyFrom(content);
        cachedAge[slot] = epoch;
        if (length < 0) {
            return full(content, crc);
        }
        return new EncodedPage(PageEncoding.DELTA, ByteBuffer.wrap(encoded, 0, length), crc);
    }

    /** QEMU's cache_insert: takes the slot unless another page holds it and was used in the last two generations. */
    private void insert(int slot, long page, long epoch, MemorySegment content) {
        if (cachedPage[slot] == page || cachedPage[slot] < 0 || cachedAge[slot] + CACHED_PAGE_LIFETIME <= epoch) {
            cachedPage[slot] = page;
            cachedAge[slot] = epoch;
            cachedCopy[slot].copyFrom(content);
        }
    }

    private static EncodedPage full(MemorySegment content, int crc) {
        return new EncodedPage(PageEncoding.FULL, content.asReadOnly().asByteBuffer(), crc);
    }

    @Override
    public void decode(long epoch, long page, EncodedPage record, ReceiverPages receiver, MemorySegment dst)
            throws CorruptPageException {
        if (record.encoding() != PageEncoding.DELTA) {
            decoder.decode(page, record, receiver, dst);
            return;
        }
        ByteBuffer payload = record.payload();
        int length = payload.remaining();
        if (length > pageSize) {
            throw new CorruptPageException("xbzrle payload of " + length + " bytes is larger than a page");
        }
        payload.get(payload.position(), received, 0, length);
        dst.copyFrom(receiver.page(page));
        XbzrleFormat.decode(received, length, dst, pageSize);
        if (PageChecksums.crc32c(dst) != record.crc32c()) {
            throw new CorruptPageException("xbzrle page " + page + " fails its checksum");
        }
    }

    /** QEMU's own: an 8-byte header per page, 1 more for a zero page, 3 more for an XBZRLE page. */
    @Override
    public WireFraming framing() {
        return new QemuRamFraming();
    }

    @Override
    public void close() {
        arena.close();
    }
}
