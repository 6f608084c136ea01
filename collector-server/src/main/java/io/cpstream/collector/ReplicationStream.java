package io.cpstream.collector;

import io.cpstream.security.ClientText;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.Welcome;
import io.cpstream.security.Identity;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/**
 * One agent's stream, from its side of the wire. Reads one message at a time (manual flow control: the next
 * message is requested only once this one is applied, so a slow disk slows the agent down instead of filling
 * memory), hands it to its standby, and turns every refusal into a status: the edge where the collector's
 * domain exceptions become gRPC codes ({@link Statuses}).
 */
final class ReplicationStream implements StreamObserver<AgentMessage> {

    private static final System.Logger LOG = System.getLogger(ReplicationStream.class.getName());

    private final StandbyRegistry registry;
    private final ServerCallStreamObserver<CollectorMessage> responses;
    private final Identity peer;
    /** Where a large message's array was lent from: given back once {@link #onNext} is done with it. */
    private final ReceiveBuffers receiveBuffers;
    private Standby standby;
    private boolean closed;

    ReplicationStream(StandbyRegistry registry, ServerCallStreamObserver<CollectorMessage> responses, Identity peer,
                      ReceiveBuffers receiveBuffers) {
        this.registry = registry;
        this.responses = responses;
        this.peer = peer;
        this.receiveBuffers = receiveBuffers;
    }

    /** Who is streaming, as its certificate says. */
    Identity peer() {
        return peer;
    }

    /**
     * Handles {@code message} completely: nothing of it may be kept once this returns, since its bytes fields are
     * views of an array lent for this message only ({@link ReceiveBuffers}).
     */
    @Override
    public void onNext(AgentMessage message) {
        try {
            handle(message);
        } finally {
            receiveBuffers.giveBack();
        }
    }

    private void handle(AgentMessage message) {
        if (isClosed()) {
            return;
        }
        try {
            if (message == null) {
                throw StandbyException.invalid("invalid protobuf message");
            }
            if (message.hasHello()) {
                if (standby != null) {
                    throw StandbyException.invalid("hello sent twice on one stream");
                }
                String vm = message.getHello().getVmId();
                if (!peer.mayProtect(vm)) {
                    throw StandbyException.denied(peer + " may not stream vm " + ClientText.quote(vm)
                            + " (its certificate names " + peer.vmPatterns() + ")");
                }
                Standby target = registry.forHello(message.getHello());
                Welcome welcome = target.attach(message.getHello(), this);
                standby = target;
                send(CollectorMessage.newBuilder().setWelcome(welcome).build());
            } else {
                if (standby == null) {
                    throw StandbyException.invalid("the first message of a stream must be hello");
                }
                CollectorMessage reply = standby.handle(this, message);
                if (reply != null) {
                    send(reply);
                }
            }
            responses.request(1);
        } catch (StandbyException e) {
            if (standby != null && e.kind() == StandbyException.Kind.INVALID) {
                standby.countProtocolError();
            }
            LOG.log(System.Logger.Level.WARNING, "closing stream of {0}{1}: {2}", peer,
                    standby == null ? "" : " for vm " + standby.vm(), e.getMessage());
            fail(Statuses.of(e));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "closing stream after an internal error", e);
            fail(Statuses.unexpected());
        }
    }

    private void fail(Status status) {
        close(status);
        if (standby != null) {
            standby.detach(this);
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

    /** Ends the stream because its standby refused it from now on; later messages from the agent are ignored. */
    void close(StandbyException why) {
        close(Statuses.of(why));
    }

    private synchronized void close(Status status) {
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
