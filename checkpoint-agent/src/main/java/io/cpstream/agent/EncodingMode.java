package io.cpstream.agent;

import java.util.Locale;

/** How the agent encodes the pages of a checkpoint. */
public enum EncodingMode {
    /** Every page whole, as it is: no encoding CPU at all (the baseline for "full-page mode"). */
    FULL,
    /** Each page on its own: zero pages as such, LZ4 when it pays, otherwise whole. */
    LZ4,
    /**
     * Everything cpstream has: zero, duplicate of a page the collector holds, delta against the exact version the
     * collector holds (for pages it called delta candidates), LZ4, whole.
     */
    CPSTREAM;

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
