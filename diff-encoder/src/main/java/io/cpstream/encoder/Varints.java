package io.cpstream.encoder;

/**
 * Unsigned LEB128 integers, as used by the delta and XBZRLE run headers: 7 bits a byte, low bits
 * first, high bit set on every byte but the last.
 */
final class Varints {

    /** An int needs at most five groups of seven bits; anything longer is malformed, not just big. */
    static final int MAX_INT_BYTES = 5;

    private Varints() {
    }

    /** Writes {@code value} (non-negative) at {@code out[at]} and returns the offset just past it. */
    static int write(byte[] out, int at, int value) {
        while ((value & ~0x7F) != 0) {
            out[at++] = (byte) ((value & 0x7F) | 0x80);
            value >>>= 7;
        }
        out[at++] = (byte) value;
        return at;
    }

    static int size(int value) {
        int bytes = 1;
        while ((value & ~0x7F) != 0) {
            value >>>= 7;
            bytes++;
        }
        return bytes;
    }

    /**
     * Reads a varint from {@code in[cursor.position]}, refusing to run past {@code limit}, values that do
     * not fit a non-negative int, and non-minimal (padded) encodings a hostile sender could use to hide
     * bytes.
     */
    static int read(byte[] in, Cursor cursor, int limit, String what) throws CorruptPageException {
        int value = 0;
        int at = cursor.position;
        for (int i = 0; i < MAX_INT_BYTES; i++) {
            if (at >= limit) {
                throw new CorruptPageException(what + ": truncated varint at byte " + cursor.position);
            }
            int b = in[at++] & 0xFF;
            if (i == MAX_INT_BYTES - 1 && (b & 0xF8) != 0) {
                throw new CorruptPageException(what + ": varint at byte " + cursor.position + " overflows an int");
            }
            value |= (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0) {
                if (b == 0 && i > 0) {
                    throw new CorruptPageException(what + ": padded varint at byte " + cursor.position);
                }
                cursor.position = at;
                return value;
            }
        }
        throw new CorruptPageException(what + ": varint at byte " + cursor.position + " is longer than "
                + MAX_INT_BYTES + " bytes");
    }

    /** A read position that varint reads advance; reused by decoders so parsing makes no garbage. */
    static final class Cursor {
        int position;
    }
}
