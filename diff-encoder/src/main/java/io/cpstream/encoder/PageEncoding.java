package io.cpstream.encoder;

/** How one page travels. Mirrors the wire enum; this module stays independent of the wire format. */
public enum PageEncoding {
    /** All zero bytes; no payload. */
    ZERO,
    /** The page itself. */
    FULL,
    /** The page compressed with LZ4. */
    LZ4,
    /** Modifications against the receiver's copy of the page. */
    DELTA,
    /** Same bytes as another page the receiver holds. */
    DUPLICATE
}
