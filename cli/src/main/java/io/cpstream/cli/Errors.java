package io.cpstream.cli;

import io.cpstream.agent.SnapshotRun;
import io.cpstream.harness.HarnessException;
import io.cpstream.snapshot.InvalidSnapshotException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** Turns failures into one line a user can act on. */
final class Errors {

    private Errors() {
    }

    static String describe(Throwable failure) {
        if (failure instanceof StatusRuntimeException grpc) {
            return describe(grpc.getStatus());
        }
        if (failure instanceof UserError || failure instanceof IllegalArgumentException
                || failure instanceof HarnessException || failure instanceof InvalidSnapshotException
                || failure instanceof SnapshotRun.Stopped) {
            return failure.getMessage();
        }
        String message = failure.getMessage();
        return failure.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }

    static String describe(Status status) {
        String description = status.getDescription() == null ? "" : status.getDescription();
        return switch (status.getCode()) {
            case UNAVAILABLE -> "cannot reach the collector (" + description + "); is it running, and is the address right?";
            case DEADLINE_EXCEEDED -> "the collector did not answer in time (" + description + ")";
            default -> description.isEmpty() ? status.getCode().toString() : description;
        };
    }

    /** A failure whose message already says what to do. */
    static final class UserError extends RuntimeException {
        UserError(String message) {
            super(message);
        }
    }
}
