package io.cpstream.encoder;

/**
 * Byte layout of the runs of a delta (see the module README for the full description). A DELTA record's payload is
 * the runs; a DELTA_LZ4 record's is {@code uleb128(rawLength)} and an LZ4 block that decompresses to exactly
 * {@code rawLength} bytes of runs.
 *
 * <pre>
 * runs   := run*                                           bytes after the last run are unchanged
 * run    := u16be(min(skip, 4095) &lt;&lt; 4 | lenCode)
 *           [uleb128(skip - 4095)   if min(skip, 4095) == 4095]
 *           [uleb128(length - 16)   if lenCode == 0]
 *           xorByte{length}
 * </pre>
 *
 * {@code skip} counts unchanged bytes since the end of the previous run (or the page start); {@code lenCode} 1..15
 * is the run length itself, 0 means the length (16 or more) follows. The run bytes are the new page XOR the base,
 * so the receiver rebuilds a page as base, then XOR each run in place.
 *
 * <p>Why a fixed two-byte header: on a 4 KiB page every skip fits its 12 bits, and every run of up to 15 bytes (a
 * changed word, a pointer, a counter) costs exactly two bytes of header. The ULEB128 header it replaced (protocol 4:
 * {@code uleb128(skip << 3 | lenCode)}, lengths from 8 in a second varint) cost 3.1 bytes for the typical sparse
 * write, a changed 8-byte word some 1-4 KiB from the previous one: a 2-3 byte varint for the skip plus a byte of
 * length. It was one byte cheaper only for runs of at most 7 bytes within 16 bytes of the previous run.
 */
final class DeltaFormat {

    /** Bits of the run header that carry a short length. */
    static final int LENGTH_BITS = 4;
    static final int LENGTH_MASK = (1 << LENGTH_BITS) - 1;
    /** Runs at least this long carry their length in a varint after the header. */
    static final int LONG_RUN = 1 << LENGTH_BITS;
    /** The largest skip the header holds itself; this value also says that the rest follows in a varint. */
    static final int SKIP_IN_HEADER = (1 << (16 - LENGTH_BITS)) - 1;

    /** Largest header of one run: the two header bytes and two varints of an int. */
    static final int MAX_RUN_HEADER = 2 + 2 * Varints.MAX_INT_BYTES;

    private DeltaFormat() {
    }

    /** Writes the header of a run of {@code length} bytes, {@code skip} bytes after the previous one; returns the end. */
    static int writeHeader(byte[] out, int o, int skip, int length) {
        int skipCode = Math.min(skip, SKIP_IN_HEADER);
        int lengthCode = length < LONG_RUN ? length : 0;
        int header = skipCode << LENGTH_BITS | lengthCode;
        out[o++] = (byte) (header >>> 8);
        out[o++] = (byte) header;
        if (skipCode == SKIP_IN_HEADER) {
            o = Varints.write(out, o, skip - SKIP_IN_HEADER);
        }
        if (lengthCode == 0) {
            o = Varints.write(out, o, length - LONG_RUN);
        }
        return o;
    }

    /** Bytes {@link #writeHeader} takes. */
    static int headerSize(int skip, int length) {
        return 2 + (skip >= SKIP_IN_HEADER ? Varints.size(skip - SKIP_IN_HEADER) : 0)
                + (length >= LONG_RUN ? Varints.size(length - LONG_RUN) : 0);
    }
}
