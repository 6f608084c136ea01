package io.cpstream.tracker.trace;

import java.io.IOException;

/** A trace file that is not a trace, of an unknown version, truncated or corrupt. */
public final class TraceFormatException extends IOException {

    public TraceFormatException(String message) {
        super(message);
    }
}
