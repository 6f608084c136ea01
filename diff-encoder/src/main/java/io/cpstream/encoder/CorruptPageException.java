package io.cpstream.encoder;

/** A page record that cannot produce a correct page: malformed, or its checksum does not match. */
public final class CorruptPageException extends Exception {

    public CorruptPageException(String message) {
        super(message);
    }
}
