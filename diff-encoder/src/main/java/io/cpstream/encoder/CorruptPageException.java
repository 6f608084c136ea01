package io.cpstream.encoder;

/** A page record that cannot produce a correct page: malformed, against a base not held, or failing its checksum. */
public final class CorruptPageException extends Exception {

    /** Why the record was refused, for the receiver's metrics. */
    public enum Reason {
        /** The record does not parse: bad lengths, runs past the page, unknown format. */
        MALFORMED,
        /** A DELTA or DUPLICATE refers to a page or version the receiver does not hold. */
        BASE_NOT_HELD,
        /** The record decodes, but not to the page whose CRC-32C it carries. */
        CHECKSUM_MISMATCH
    }

    private final Reason reason;

    public CorruptPageException(String message) {
        this(Reason.MALFORMED, message);
    }

    public CorruptPageException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
