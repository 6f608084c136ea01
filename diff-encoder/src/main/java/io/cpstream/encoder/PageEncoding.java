package io.cpstream.encoder;

import java.util.Arrays;

/**
 * How one page travels. Each constant carries its wire number: the value of the matching constant of the
 * wire enum {@code cpstream.v1.PageEncoding} (replication.proto), which is how both sides map the two
 * ({@link #wireNumber()}, {@link #fromWire(int)}), so this module stays independent of the wire format.
 * Adding an encoding means a constant here with its proto value, and the proto constant: nothing else.
 */
public enum PageEncoding {
    /** All zero bytes; no payload. Wire: {@code PAGE_ZERO = 1}. */
    ZERO(1),
    /** The page itself. Wire: {@code PAGE_FULL = 2}. */
    FULL(2),
    /** The page compressed with LZ4. Wire: {@code PAGE_LZ4 = 3}. */
    LZ4(3),
    /** Modifications against the receiver's copy of the page: the runs of a delta. Wire: {@code PAGE_DELTA = 4}. */
    DELTA(4),
    /** Same bytes as another page the receiver holds. Wire: {@code PAGE_DUPLICATE = 5}. */
    DUPLICATE(5),
    /**
     * A DELTA whose runs are compressed with LZ4 (what protocol 4 marked with a format byte in every delta payload;
     * the encoding byte says it for free). Wire: {@code PAGE_DELTA_LZ4 = 6}.
     */
    DELTA_LZ4(6);

    private static final PageEncoding[] BY_WIRE_NUMBER = byWireNumber();

    private final int wireNumber;

    PageEncoding(int wireNumber) {
        this.wireNumber = wireNumber;
    }

    private static PageEncoding[] byWireNumber() {
        PageEncoding[] table = new PageEncoding[Arrays.stream(values()).mapToInt(e -> e.wireNumber).max().orElse(0) + 1];
        for (PageEncoding encoding : values()) {
            if (encoding.wireNumber < 1 || table[encoding.wireNumber] != null) {
                throw new IllegalStateException(encoding + ": wire number " + encoding.wireNumber
                        + " is unspecified (0), negative or taken");
            }
            table[encoding.wireNumber] = encoding;
        }
        return table;
    }

    /**
     * Whether a record of this encoding refers to what the receiver holds (a base version, another page), so
     * that it cannot appear in a full checkpoint, which must not depend on the standby.
     */
    public boolean dependsOnReceiver() {
        return isDelta() || this == DUPLICATE;
    }

    /** DELTA or DELTA_LZ4: applies to the receiver's copy at a base version, and says how much the page changed. */
    public boolean isDelta() {
        return this == DELTA || this == DELTA_LZ4;
    }

    /** The value of this encoding's constant in the wire enum {@code cpstream.v1.PageEncoding}. */
    public int wireNumber() {
        return wireNumber;
    }

    /**
     * The encoding whose wire number is {@code wireNumber}.
     *
     * @throws CorruptPageException (MALFORMED) for 0 (unspecified) and every number no encoding has
     */
    public static PageEncoding fromWire(int wireNumber) throws CorruptPageException {
        PageEncoding encoding = wireNumber > 0 && wireNumber < BY_WIRE_NUMBER.length ? BY_WIRE_NUMBER[wireNumber] : null;
        if (encoding == null) {
            throw new CorruptPageException("no known page encoding has wire number " + wireNumber);
        }
        return encoding;
    }
}
