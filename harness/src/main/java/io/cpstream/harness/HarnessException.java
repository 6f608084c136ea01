package io.cpstream.harness;

/** A run of a harness (demo, bench, chaos) could not go on; the message says why, in words a user can act on. */
public final class HarnessException extends RuntimeException {

    public HarnessException(String message) {
        super(message);
    }
}
