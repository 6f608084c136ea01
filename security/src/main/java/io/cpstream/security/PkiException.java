package io.cpstream.security;

/** A certificate or key that cannot be made, read or used, said in terms an operator can act on. */
public final class PkiException extends Exception {

    public PkiException(String message) {
        super(message);
    }

    public PkiException(String message, Throwable cause) {
        super(message, cause);
    }
}
