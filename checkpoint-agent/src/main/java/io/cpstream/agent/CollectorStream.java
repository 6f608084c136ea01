package io.cpstream.agent;

import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * One replication stream to the collector, with gRPC's outbound flow control made blocking: a
 * sender calls {@link #send} and waits while the transport is not ready, so a slow collector or link
 * holds the agent back instead of piling messages up in memory.
 */
final class CollectorStream {

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition readyOrClosed = lock.newCondition();
    private final ClientCallStreamObserver<AgentMessage> requests;
    private Status closedWith;

    /** Thrown by {@link #send} once the stream has ended. */
    static final class ClosedException extends Exception {
        final Status status;

        ClosedException(Status status) {
            super(status.toString());
            this.status = status;
        }
    }

    /**
     * @param onProgress called whenever the transport becomes ready again: the collector took in what was sent
     *                   (its flow-control window opened), so it is alive even if it has not answered yet
     */
    @SuppressWarnings("unchecked")
    CollectorStream(ManagedChannel channel, Consumer<CollectorMessage> onMessage, Consumer<Status> onClose,
                    Runnable onProgress) {
        ClientCallStreamObserver<AgentMessage>[] holder = new ClientCallStreamObserver[1];
        // Ready while less than a couple of batches are buffered: the sender blocks only when the link is
        // genuinely behind, not after every 1 MiB message.
        ReplicationGrpc.newStub(channel).withOnReadyThreshold(StreamTuning.ON_READY_THRESHOLD).stream(new ClientResponseObserver<AgentMessage, CollectorMessage>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<AgentMessage> stream) {
                holder[0] = stream;
                stream.setOnReadyHandler(() -> {
                    onProgress.run();
                    signal();
                });
            }

            @Override
            public void onNext(CollectorMessage message) {
                onMessage.accept(message);
            }

            @Override
            public void onError(Throwable t) {
                Status status = Status.fromThrowable(t);
                markClosed(status);
                onClose.accept(status);
            }

            @Override
            public void onCompleted() {
                Status status = Status.UNAVAILABLE.withDescription("the collector ended the stream");
                markClosed(status);
                onClose.accept(status);
            }
        });
        this.requests = holder[0];
    }

    /** Sends one message, waiting while the transport is not ready. */
    void send(AgentMessage message) throws ClosedException, InterruptedException {
        lock.lock();
        try {
            while (closedWith == null && !requests.isReady()) {
                readyOrClosed.await();
            }
            if (closedWith != null) {
                throw new ClosedException(closedWith);
            }
            requests.onNext(message);
        } finally {
            lock.unlock();
        }
    }

    /** Ends the stream from this side. */
    void cancel(String why) {
        lock.lock();
        try {
            if (closedWith == null) {
                requests.cancel(why, null);
            }
        } finally {
            lock.unlock();
        }
        markClosed(Status.CANCELLED.withDescription(why));
    }

    private void signal() {
        lock.lock();
        try {
            readyOrClosed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void markClosed(Status status) {
        lock.lock();
        try {
            if (closedWith == null) {
                closedWith = status;
            }
            readyOrClosed.signalAll();
        } finally {
            lock.unlock();
        }
    }
}
