package io.cpstream.collector;

/**
 * Why the collector refused a message or a request, or failed it, in its own terms. Only {@link Statuses} turns
 * a kind into a transport status code, at the edge (the replication stream and the admin service).
 */
final class StandbyException extends Exception {

    enum Kind {
        /** The message breaks the protocol or its limits: the stream ends and committed state is untouched. */
        INVALID,
        /** The VM was promoted or its fencing epoch raised: this primary must stop for good. */
        FENCED,
        /** The request cannot be served in the standby's present state (e.g. a lease still runs). */
        PRECONDITION,
        /** The thing asked for exists already (a promoted VM promoted again). */
        ALREADY_DONE,
        /** No such VM on this collector. */
        NOT_FOUND,
        /** A concurrent promotion won the race. */
        LOST_RACE,
        /** Not now: the lease authority (ZooKeeper) could not be consulted, or a promotion is under way. */
        RETRY_LATER,
        /** The collector's disk failed it; what was acknowledged before is intact. */
        STORAGE,
        /** The peer's certificate does not allow this (another VM's name, a role without the right). */
        DENIED,
        /** One more would exceed what this collector is configured to hold (VMs, guest bytes). */
        EXHAUSTED
    }

    private final Kind kind;

    private StandbyException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    Kind kind() {
        return kind;
    }

    static StandbyException invalid(String message) {
        return new StandbyException(Kind.INVALID, message, null);
    }

    static StandbyException fenced(String vm, String what) {
        return new StandbyException(Kind.FENCED, "fenced: vm " + vm + " " + what
                + "; this primary must not stream or release output any more", null);
    }

    static StandbyException precondition(String message) {
        return new StandbyException(Kind.PRECONDITION, message, null);
    }

    static StandbyException alreadyDone(String message) {
        return new StandbyException(Kind.ALREADY_DONE, message, null);
    }

    static StandbyException notFound(String message) {
        return new StandbyException(Kind.NOT_FOUND, message, null);
    }

    static StandbyException lostRace(String message) {
        return new StandbyException(Kind.LOST_RACE, message, null);
    }

    static StandbyException retryLater(String message, Throwable cause) {
        return new StandbyException(Kind.RETRY_LATER, message, cause);
    }

    static StandbyException denied(String message) {
        return new StandbyException(Kind.DENIED, message, null);
    }

    static StandbyException exhausted(String message) {
        return new StandbyException(Kind.EXHAUSTED, message, null);
    }

    static StandbyException storage(String what, Throwable cause) {
        return new StandbyException(Kind.STORAGE, what + " failed on the collector: " + cause.getMessage(), cause);
    }
}
