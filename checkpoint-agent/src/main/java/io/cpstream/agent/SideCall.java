package io.cpstream.agent;

import io.grpc.stub.ClientCallStreamObserver;

/**
 * A call the agent makes beside its replication stream (the lease, the event log), whose requests are offered, never
 * waited for: one the transport cannot take now is left to the caller to send again, so nothing piles up in memory
 * and nothing blocks on a congested link. Closed for good once either side ends it.
 */
abstract class SideCall<T> {

    private ClientCallStreamObserver<T> requests;
    private boolean closed;

    /** The call's request side, once gRPC started it (in the response observer's {@code beforeStart}). */
    final synchronized void started(ClientCallStreamObserver<T> call) {
        requests = call;
    }

    /** Sends {@code request} if the call is open and can take it now; false when it cannot. */
    final synchronized boolean offer(T request) {
        if (closed || requests == null || !requests.isReady()) {
            return false;
        }
        requests.onNext(request);
        return true;
    }

    /** Whether the call ended (the collector or the connection closed it, or this side cancelled it). */
    final synchronized boolean closed() {
        return closed;
    }

    /** Ends the call from this side (its stream ended). */
    final synchronized void cancel() {
        if (!closed) {
            closed = true;
            if (requests != null) {
                requests.cancel("the replication stream ended", null);
            }
        }
    }

    /** Marks the call ended by the other side; true if it was open until now (not cancelled by this side). */
    final synchronized boolean markClosed() {
        if (closed) {
            return false;
        }
        closed = true;
        return true;
    }
}
