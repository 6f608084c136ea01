package io.cpstream.collector;

import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.Welcome;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/**
 * One agent's stream, from its side of the wire. Reads one message at a time (manual flow control:
 * the next message is requested only once this one is applied, so a slow disk slows the agent down
 * instead of filling memory) and turns every protocol violation into a clear status.
 */
final class ReplicationStream implements StreamObserver<AgentMessage> {

    private static final System.Logger LOG = System.getLogger(ReplicationStream.class.getName());

    private final StandbyRegistry registry;
    private final ServerCallStreamObserver<CollectorMessage> responses;
    private Standby standby;
    private boolean closed;

    ReplicationStream(StandbyRegistry registry, ServerCallStreamObserver<CollectorMessage> responses) {
        this.registry = registry;
        this.responses = responses;
    }

    @Override
    public void onNext(AgentMessage message) {
        if (isClosed()) {
            return;
        }
        try {
            if (message.hasHello()) {
                if (standby != null) {
                    throw Status.INVALID_ARGUMENT.withDescription("hello sent twice on one stream").asException();
                }
                Standby target = registry.forHello(message.getHello());
                Welcome welcome = target.attach(message.getHello(), this);
                standby = target;
                send(CollectorMessage.newBuilder().setWelcome(welcome).build());
            } else {
                if (standby == null) {
                    throw Status.INVALID_ARGUMENT.withDescription("the first message of a stream must be hello")
                            .asException();
                }
                if (!standby.isOwner(this)) {
                    return; // replaced or fenced: its status was already sent
                }
                standby.heard();
                dispatch(message);
            }
            responses.request(1);
        } catch (StatusException e) {
            if (standby != null && e.getStatus().getCode() == Status.Code.INVALID_ARGUMENT) {
                standby.countProtocolError();
            }
            LOG.log(System.Logger.Level.WARNING, "closing stream: {0}", e.getStatus());
            fail(e.getStatus());
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "closing stream after an internal error", e);
            fail(Status.INTERNAL.withDescription("collector error: " + e));
        }
    }

    private void fail(Status status) {
        close(status);
        if (standby != null) {
            standby.detach(this);
        }
    }

    private void dispatch(AgentMessage message) throws StatusException {
        switch (message.getBodyCase()) {
            case BEGIN -> standby.begin(message.getBegin());
            case PAGES -> standby.pages(message.getPages());
            case DEVICE_STATE -> standby.deviceState(message.getDeviceState());
            case COMMIT -> {
                CollectorMessage reply = standby.commit(message.getCommit());
                if (reply != null) {
                    send(reply);
                }
            }
            case HEARTBEAT -> {
                CollectorMessage grant = standby.heartbeat(this, message.getHeartbeat());
                if (grant != null) {
                    send(grant);
                }
            }
            case HELLO, BODY_NOT_SET -> throw Status.INVALID_ARGUMENT
                    .withDescription("message with no known body (" + message.getBodyCase() + ")").asException();
        }
    }

    @Override
    public void onError(Throwable t) {
        markClosed();
        if (standby != null) {
            standby.detach(this);
        }
    }

    @Override
    public void onCompleted() {
        if (standby != null) {
            standby.detach(this);
        }
        close(Status.OK);
    }

    /** Sends to the agent; acks and resyncs are small and bounded by the agent's window of unacked epochs. */
    synchronized void send(CollectorMessage message) {
        if (!closed) {
            responses.onNext(message);
        }
    }

    /** Ends the stream with {@code status}; later messages from the agent are ignored. */
    synchronized void close(Status status) {
        if (closed) {
            return;
        }
        closed = true;
        if (status.isOk()) {
            responses.onCompleted();
        } else {
            responses.onError(status.asRuntimeException());
        }
    }

    private synchronized boolean isClosed() {
        return closed;
    }

    private synchronized void markClosed() {
        closed = true;
    }
}
