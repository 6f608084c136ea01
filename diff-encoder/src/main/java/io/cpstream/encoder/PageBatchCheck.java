package io.cpstream.encoder;

import java.util.zip.CRC32;
import java.util.zip.CRC32C;

/**
 * The end-to-end check of a batch of page records (protocol 5): one 64-bit value per batch instead of a CRC-32C per
 * record. Both sides compute the CRC-32C of every page the batch produces, as protocol 4 did, and fold them in record
 * order: the low 32 bits are the CRC-32C, the high 32 bits the CRC-32 (IEEE), of the pages' CRC-32Cs, each as 4
 * little-endian bytes. The sender folds the CRC-32C of each page it encodes; the receiver folds that of each page it
 * rebuilds, and applies none of the batch's pages unless the two values agree.
 *
 * <p>Why this does not weaken the check: a rebuilt page that differs from the sent one is caught exactly when its
 * CRC-32C differs, as before, because a difference confined to one 32-bit word of the folded sequence always changes
 * a CRC (both CRCs detect every burst of up to 32 bits). Several wrong pages in one batch escape only if the 64-bit
 * fold collides (two distinct degree-32 polynomials: a 64-bit code, about 2^-64), where protocol 4 needed each of
 * their CRCs to collide (2^-32 each). What is lost is only which page was wrong: a batch that fails is asked for
 * whole. It saves 4 bytes on every record but zero pages (which carried no CRC).
 *
 * <p>Not thread-safe; {@link #reset()} between batches.
 */
public final class PageBatchCheck {

    private final CRC32C low = new CRC32C();
    private final CRC32 high = new CRC32();
    private final byte[] word = new byte[Integer.BYTES];
    private int pages;

    public void reset() {
        low.reset();
        high.reset();
        pages = 0;
    }

    /** Folds in the CRC-32C of the next page of the batch. */
    public void add(int pageCrc32c) {
        word[0] = (byte) pageCrc32c;
        word[1] = (byte) (pageCrc32c >>> 8);
        word[2] = (byte) (pageCrc32c >>> 16);
        word[3] = (byte) (pageCrc32c >>> 24);
        low.update(word, 0, Integer.BYTES);
        high.update(word, 0, Integer.BYTES);
        pages++;
    }

    /** Pages folded in since the last reset. */
    public int pages() {
        return pages;
    }

    /** The check of the pages folded in so far. */
    public long value() {
        return high.getValue() << 32 | low.getValue();
    }
}
