package io.cpstream.tracker;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A source that stands in for another and forwards every call to it, for decorators that change one thing
 * (what a stun reports, who sees the outputs) and must leave the rest of the guest as it is: a capability the
 * decorator inherited as a default instead would hide the guest's own answer.
 */
public abstract class ForwardingSource implements MemorySource {

    private final MemorySource guest;

    protected ForwardingSource(MemorySource guest) {
        this.guest = guest;
    }

    /** The guest behind this one. */
    public MemorySource guest() {
        return guest;
    }

    @Override
    public String kind() {
        return guest.kind();
    }

    @Override
    public Map<String, String> params() {
        return guest.params();
    }

    @Override
    public int pageSize() {
        return guest.pageSize();
    }

    @Override
    public int pageCount() {
        return guest.pageCount();
    }

    @Override
    public void start() {
        guest.start();
    }

    @Override
    public boolean finished() {
        return guest.finished();
    }

    @Override
    public Optional<String> fault() {
        return guest.fault();
    }

    @Override
    public Optional<RecordReplay> recordReplay() {
        return guest.recordReplay();
    }

    @Override
    public Stun stun() {
        return guest.stun();
    }

    @Override
    public void copyPage(int page, MemorySegment dst, long dstOffset) {
        guest.copyPage(page, dst, dstOffset);
    }

    @Override
    public Optional<String> protectionUnavailable() {
        return guest.protectionUnavailable();
    }

    @Override
    public int protectionMinRun() {
        return guest.protectionMinRun();
    }

    @Override
    public List<GuestOutput> pollOutputs(long maxBytes) {
        return guest.pollOutputs(maxBytes);
    }

    @Override
    public void close() {
        guest.close();
    }
}
