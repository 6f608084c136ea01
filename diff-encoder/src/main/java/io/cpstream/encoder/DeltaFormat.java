package io.cpstream.encoder;

/**
 * Byte layout of a DELTA payload (see the module README for the full description).
 *
 * <pre>
 * payload := PLAIN runs                      the runs as they are
 *          | LZ4   uleb128(rawLength) block  an LZ4 block that decompresses to exactly rawLength bytes of runs
 * runs    := run*                            bytes after the last run are unchanged
 * run     := uleb128(skip &lt;&lt; 3 | lenCode) [uleb128(length - 8) if lenCode == 0] xorByte{length}
 * </pre>
 *
 * {@code skip} counts unchanged bytes since the end of the previous run (or the page start);
 * {@code lenCode} 1..7 is the run length itself, 0 means the length (8 or more) follows. The run bytes
 * are the new page XOR the base, so the receiver rebuilds a page as base, then XOR each run in place.
 * Packing a short length into the skip varint saves one byte per run against XBZRLE's pair of lengths,
 * and sparse writes (counters, pointers) are nearly all short runs.
 */
final class DeltaFormat {

    static final byte PLAIN = 1;
    static final byte LZ4 = 2;

    /** Bits of the run header that carry a short length. */
    static final int LENGTH_BITS = 3;
    static final int LENGTH_MASK = (1 << LENGTH_BITS) - 1;
    /** Runs at least this long carry their length in a second varint. */
    static final int LONG_RUN = 1 << LENGTH_BITS;

    /** Largest header of one run: two varints of an int. */
    static final int MAX_RUN_HEADER = 2 * Varints.MAX_INT_BYTES;

    private DeltaFormat() {
    }
}
