package io.cpstream.collector;

import io.grpc.Status;

/**
 * The one mapping from the collector's refusals to gRPC status codes. The agent reads some codes as final
 * (FAILED_PRECONDITION, INVALID_ARGUMENT, ABORTED: it stops) and the others as passing (it reconnects), so the
 * choice here decides whether a primary gives up.
 */
final class Statuses {

    private Statuses() {
    }

    static Status of(StandbyException e) {
        Status status = switch (e.kind()) {
            case INVALID -> Status.INVALID_ARGUMENT;
            case FENCED, PRECONDITION -> Status.FAILED_PRECONDITION;
            case ALREADY_DONE -> Status.ALREADY_EXISTS;
            case NOT_FOUND -> Status.NOT_FOUND;
            case LOST_RACE -> Status.ABORTED;
            case RETRY_LATER -> Status.UNAVAILABLE;
            case STORAGE -> Status.INTERNAL;
            case DENIED -> Status.PERMISSION_DENIED;
            case EXHAUSTED -> Status.RESOURCE_EXHAUSTED;
        };
        return status.withDescription(e.getMessage());
    }

    /** A failure the collector did not expect: the details go to its log, not to the peer. */
    static Status unexpected() {
        return Status.INTERNAL.withDescription("collector error; its log has the details");
    }
}
