package io.cpstream.tracker;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A guest whose memory cpstream protects: something that runs, can be stopped for a moment (the stun),
 * and tells which of its pages were written since the last time it was asked.
 *
 * <p>Implementations own the guest and its dirty tracking; they know nothing about networks or
 * encodings. The checkpoint agent drives them: {@link #start()}, then repeatedly {@link #stun()},
 * harvest, copy pages, resume.
 */
public interface MemorySource extends AutoCloseable {

    /** Short name of the backend: {@code sim}, {@code kvm}, {@code process}, {@code trace}. */
    String kind();

    /** The parameters this source was opened with, recorded in snapshots so they describe themselves. */
    Map<String, String> params();

    int pageSize();

    int pageCount();

    default long memoryBytes() {
        return (long) pageSize() * pageCount();
    }

    /** Lets the guest run. Every page counts as dirty before the first harvest. */
    void start();

    /**
     * Stops every writer of guest memory and returns once none is running. The returned handle
     * harvests the dirty set and device state; closing it resumes the guest.
     */
    Stun stun();

    /**
     * Copies page {@code page} into {@code dst} at {@code dstOffset}. While stunned the copy is the
     * page as of the stun; at other times it is whatever the guest holds at that instant.
     */
    void copyPage(int page, MemorySegment dst, long dstOffset);

    /**
     * Takes the records the guest emitted on its output channel (what the outside world would see) since the
     * last call, in order, as many as fit in {@code maxBytes} of payload; the rest stay in the guest, whose
     * output channel fills until the guest waits. Called while stunned it returns outputs emitted before the
     * stun, which is what lets the agent hold each output until the checkpoint that contains its cause is
     * committed, and never hold more than it can hand to the standby. Sources without an output channel return
     * nothing. A source emits no record longer than {@link #MAX_OUTPUT_RECORD_BYTES}.
     */
    default List<GuestOutput> pollOutputs(long maxBytes) {
        return List.of();
    }

    /** Takes every output record the guest emitted since the last call (see {@link #pollOutputs(long)}). */
    default List<GuestOutput> pollOutputs() {
        return pollOutputs(Long.MAX_VALUE);
    }

    /** The longest output record a source emits (the replication protocol's MAX_OUTPUT_RECORD_BYTES). */
    int MAX_OUTPUT_RECORD_BYTES = 64 << 10;

    /** The largest device state a source produces (the replication protocol's MAX_DEVICE_STATE_BYTES). */
    int MAX_DEVICE_STATE_BYTES = 16 << 20;

    /**
     * Why {@link Stun#protect} (copy-before-write of pages after the guest resumed) does not work for this
     * source, or empty when it does.
     */
    default Optional<String> protectionUnavailable() {
        return Optional.of(kind() + " sources cannot write-protect pages");
    }

    /**
     * The shortest run of consecutive pages worth write-protecting instead of copying inside the stun:
     * where protecting costs a system call and a TLB shootdown per run, a lone page is cheaper to copy.
     */
    default int protectionMinRun() {
        return 1;
    }

    /**
     * Why the guest stopped on an error it cannot recover from (a KVM vCPU's triple fault, a bad port
     * access, a failed ioctl), or empty while it runs (or stopped normally). Whoever runs a guest polls this
     * rather than knowing which kinds can fault; sources that cannot fail this way keep the default.
     */
    default Optional<String> fault() {
        return Optional.empty();
    }

    /**
     * Record and replay of the guest's inputs, where the guest is deterministic between port accesses
     * ({@code emu}); empty for every other source.
     */
    default java.util.Optional<RecordReplay> recordReplay() {
        return java.util.Optional.empty();
    }

    /**
     * True once the guest has nothing more to do, as a replayed recording after its last epoch does;
     * benchmarks stop there. Live guests never finish.
     */
    default boolean finished() {
        return false;
    }

    /** Stops the guest and releases its memory. */
    @Override
    void close();
}
