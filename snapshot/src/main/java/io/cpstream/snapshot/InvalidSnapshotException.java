package io.cpstream.snapshot;

import java.io.IOException;

/** A snapshot that is missing, incomplete or corrupt; the message says which file and what is wrong with it. */
public final class InvalidSnapshotException extends IOException {

    public InvalidSnapshotException(String message) {
        super(message);
    }
}
