package io.cpstream.encoder;

/**
 * Per page: whether the next encode of the page should offer it to LZ4 at all, kept apart for the whole page and
 * for the runs of its delta (a page of compressible text can take random runs, and the other way round). An LZ4
 * attempt on bytes that do not compress at all (random, encrypted or already compressed) costs several times the
 * rest of the page's encoding, and such bytes rarely turn compressible. So after an attempt that found nothing, that
 * kind of attempt is skipped on the page for {@value #FIRST_BACKOFF} sends, each further failure in a row doubling
 * that, up to {@value #MAX_BACKOFF}; an attempt that finds something resets it. Four bytes a page.
 *
 * <p>Not thread-safe: kept by the thread that encodes the stream.
 */
public final class Lz4Backoff {

    /** What an LZ4 attempt is offered: the whole page, or the runs of its delta. */
    public enum Input { PAGE, RUNS }

    static final int FIRST_BACKOFF = 8;
    static final int MAX_BACKOFF = 64;
    private static final int MAX_DOUBLINGS = Integer.numberOfTrailingZeros(MAX_BACKOFF / FIRST_BACKOFF);

    /** Per input kind and page: sends left before LZ4 is tried again. */
    private final byte[][] sendsLeft;
    /** Per input kind and page: failed attempts in a row, capped. */
    private final byte[][] failures;

    public Lz4Backoff(int pageCount) {
        sendsLeft = new byte[][] {new byte[pageCount], new byte[pageCount]};
        failures = new byte[][] {new byte[pageCount], new byte[pageCount]};
    }

    /** Whether this send of {@code page} should offer {@code input} to LZ4; counts the send when not. */
    public boolean shouldTry(Input input, int page) {
        byte[] left = sendsLeft[input.ordinal()];
        if (left[page] == 0) {
            return true;
        }
        left[page]--;
        return false;
    }

    /** Whether the next send of {@code page} would offer {@code input} to LZ4 (counts nothing). */
    public boolean wouldTry(Input input, int page) {
        return sendsLeft[input.ordinal()][page] == 0;
    }

    /**
     * An attempt on {@code input} of {@code page} found something to compress ({@code compressed}: its output is
     * shorter than its input, even if not by enough to be used), or found nothing at all. Only the latter backs
     * off: a page that compresses a little may well compress enough after its next writes.
     */
    public void tried(Input input, int page, boolean compressed) {
        byte[] failed = failures[input.ordinal()];
        if (compressed) {
            failed[page] = 0;
        } else {
            int doublings = failed[page];
            sendsLeft[input.ordinal()][page] = (byte) (FIRST_BACKOFF << doublings);
            failed[page] = (byte) Math.min(MAX_DOUBLINGS, doublings + 1);
        }
    }
}
