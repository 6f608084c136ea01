package io.cpstream.collector;

import io.cpstream.proto.EventLogAck;
import io.cpstream.proto.EventLogChunk;
import io.cpstream.proto.Limit;
import io.cpstream.security.ClientText;
import io.cpstream.security.Identity;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/**
 * One agent's EventLog call (record/replay protection): each chunk of the guest's inputs is journaled by the standby
 * of the VM it names ({@link Standby#journalEvents}) and acknowledged. One chunk is read at a time (the next is
 * requested once this one is on disk), so a slow disk holds the agent back instead of filling memory. Any refusal
 * ends the call with its status; the agent then starts over on a new stream, whose Welcome says where the journal ends.
 */
final class EventLogStream implements StreamObserver<EventLogChunk> {

    private static final System.Logger LOG = System.getLogger(EventLogStream.class.getName());

    private final StandbyRegistry registry;
    private final ServerCallStreamObserver<EventLogAck> acks;
    private final Identity peer;
    private volatile boolean closed;

    EventLogStream(StandbyRegistry registry, ServerCallStreamObserver<EventLogAck> acks, Identity peer) {
        this.registry = registry;
        this.acks = acks;
        this.peer = peer;
    }

    @Override
    public void onNext(EventLogChunk chunk) {
        if (closed) {
            return;
        }
        Standby standby = null;
        try {
            if (chunk == null) {
                throw StandbyException.invalid("invalid protobuf message");
            }
            if (chunk.getVmId().length() > Limit.MAX_LABEL_BYTES_VALUE
                    || chunk.getLeaseToken().size() > Limit.MAX_LABEL_BYTES_VALUE) {
                throw StandbyException.invalid("an event log chunk's vm id and lease token are at most "
                        + Limit.MAX_LABEL_BYTES_VALUE + " bytes");
            }
            if (!peer.mayProtect(chunk.getVmId())) {
                throw StandbyException.denied(peer + " may not send the event log of vm "
                        + ClientText.quote(chunk.getVmId()));
            }
            standby = registry.find(chunk.getVmId());
            if (standby == null) {
                throw StandbyException.retryLater("vm " + ClientText.quote(chunk.getVmId())
                        + " has no stream attached here", null);
            }
            send(standby.journalEvents(chunk, peer, this::send));
            acks.request(1);
        } catch (StandbyException e) {
            if (standby != null && e.kind() == StandbyException.Kind.INVALID) {
                standby.countProtocolError();
            }
            LOG.log(System.Logger.Level.WARNING, "closing the event log call of {0}: {1}", peer, e.getMessage());
            close(Statuses.of(e));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "closing an event log call after an internal error", e);
            close(Statuses.unexpected());
        }
    }

    /**
     * Sends an acknowledgement: of a chunk, on gRPC's thread, or of more outputs compared, on a lockstep secondary's
     * (hence the lock: a call's observer takes one caller at a time). Nothing once the call ended.
     */
    synchronized void send(EventLogAck ack) {
        if (closed || acks.isCancelled()) {
            return;
        }
        try {
            acks.onNext(ack);
        } catch (RuntimeException e) {
            closed = true; // the agent cancelled the call meanwhile
        }
    }

    private synchronized void close(Status status) {
        closed = true;
        acks.onError(status.asRuntimeException());
    }

    @Override
    public synchronized void onError(Throwable t) {
        closed = true; // the agent went away or started over; what it sent and was acknowledged is journaled
    }

    @Override
    public synchronized void onCompleted() {
        if (!closed) {
            closed = true;
            acks.onCompleted();
        }
    }
}
