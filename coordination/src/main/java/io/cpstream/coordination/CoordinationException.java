package io.cpstream.coordination;

/** ZooKeeper could not answer, or refused; a {@link Lost} is a race another party won. */
public class CoordinationException extends Exception {

    public CoordinationException(String message, Throwable cause) {
        super(message, cause);
    }

    public CoordinationException(String message) {
        super(message);
    }

    /** A concurrent change (a promotion, another primary's claim) won: what was expected is no longer so. */
    public static final class Lost extends CoordinationException {
        public Lost(String message) {
            super(message);
        }
    }
}
