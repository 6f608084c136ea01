package io.cpstream.encoder;

/**
 * A small per-page modification history: for each page, the checkpoint it was last sent in and a count of
 * how often it was sent lately, halved every {@link #HALF_LIFE_EPOCHS} checkpoints without a write. It answers
 * one question for the delta base cache: which pages are least likely to be written again soon, and so
 * least worth a base copy ({@link HistoryEviction}). Five bytes a page.
 *
 * <p>Not thread-safe: kept by the thread that encodes checkpoints.
 */
public final class PageWriteHistory {

    static final int HALF_LIFE_EPOCHS = 32;
    private static final int MAX_WRITES = 127;

    /** Low 32 bits of the epoch each page was last written in; 0 = never. */
    private final int[] lastEpoch;
    private final byte[] writes;
    private long epoch;

    public PageWriteHistory(int pageCount) {
        lastEpoch = new int[pageCount];
        writes = new byte[pageCount];
    }

    /** The checkpoint being encoded from now on. */
    public void advance(long currentEpoch) {
        epoch = currentEpoch;
    }

    /** Page {@code page} is written in the current checkpoint. */
    public void written(int page) {
        int last = lastEpoch[page];
        int now = (int) epoch;
        if (last == now && writes[page] > 0) {
            return;
        }
        int count = decayed(page) + 1;
        writes[page] = (byte) Math.min(MAX_WRITES, count);
        lastEpoch[page] = now;
    }

    /** How often the page was written lately (decayed to now): the higher, the likelier it is written soon. */
    public int heat(int page) {
        return decayed(page);
    }

    /** Checkpoints since the page was last written (large when never). */
    public long age(int page) {
        return writes[page] == 0 ? Long.MAX_VALUE : (int) epoch - lastEpoch[page] & 0xFFFFFFFFL;
    }

    private int decayed(int page) {
        int count = writes[page];
        if (count == 0) {
            return 0;
        }
        long halvings = age(page) / HALF_LIFE_EPOCHS;
        return halvings >= 8 ? 0 : count >>> halvings;
    }
}
