package io.cpstream.tracker.kvm;

import io.cpstream.tracker.GuestOutput;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.SourceSpec;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;
import org.junit.jupiter.api.Assumptions;

/** Shared helpers: skipping without KVM, collecting guest output, taking a whole-memory image. */
final class KvmTestSupport {

    /** Generous: the guests run through a nested KVM's instruction emulator on a shared, noisy machine. */
    static final Duration PATIENCE = Duration.ofSeconds(60);

    private KvmTestSupport() {
    }

    static void assumeKvm() {
        Optional<String> reason = KvmSource.unavailableReason();
        reason.ifPresent(r -> System.out.println("skipping KVM test: " + r));
        Assumptions.assumeTrue(reason.isEmpty(), () -> "KVM unavailable: " + reason.orElse(""));
    }

    /** Skips, saying why, when the emulated backend cannot run here (no libunicorn2, no uffd async write-protect). */
    static void assumeEmu() {
        Optional<String> reason = KvmSource.emuUnavailableReason();
        reason.ifPresent(r -> System.out.println("skipping emu test: " + r));
        Assumptions.assumeTrue(reason.isEmpty(), () -> "emu unavailable: " + reason.orElse(""));
    }

    /** Skips, saying why, when this kernel cannot track dirty pages the way {@code mode} names. */
    static void assumeDirtyMode(String mode) {
        if (!mode.equals("pagemap")) {
            return;
        }
        Optional<String> reason = KvmSource.pagemapUnavailableReason();
        reason.ifPresent(r -> System.out.println("skipping dirty=pagemap test: " + r));
        Assumptions.assumeTrue(reason.isEmpty(), () -> "dirty=pagemap unavailable: " + reason.orElse(""));
    }

    /** Skips, saying why, when copy-before-write (userfaultfd write-protect) cannot work for {@code source}. */
    static void assumeProtection(KvmSource source) {
        Optional<String> reason = source.protectionUnavailable();
        reason.ifPresent(r -> System.out.println("skipping copy-before-write test: " + r));
        Assumptions.assumeTrue(reason.isEmpty(), () -> reason.orElse(""));
    }

    /** Polls outputs into {@code sink} until one matches, failing fast (with the reason) if the guest faults. */
    static GuestOutput awaitOutput(KvmSource source, List<GuestOutput> sink, Predicate<GuestOutput> wanted) {
        GuestOutput[] found = new GuestOutput[1];
        await().atMost(PATIENCE).pollInterval(Duration.ofMillis(5)).until(() -> {
            source.fault().ifPresent(f -> {
                throw new AssertionError("guest faulted: " + f);
            });
            for (GuestOutput out : source.pollOutputs()) {
                sink.add(out);
                if (found[0] == null && wanted.test(out)) {
                    found[0] = out;
                }
            }
            return found[0] != null;
        });
        return found[0];
    }

    static GuestOutput awaitOutput(KvmSource source, Predicate<GuestOutput> wanted) {
        return awaitOutput(source, new ArrayList<>(), wanted);
    }

    /**
     * The output counters in a device state's header (state.c: little-endian u64s at bytes 24 and 32): the
     * epoch the next output gets, one past the epoch the stun sealed, and how many outputs the VM had emitted.
     */
    record OutputCounters(long nextEpoch, long emitted) {
        static OutputCounters of(byte[] deviceState) {
            ByteBuffer header = ByteBuffer.wrap(deviceState).order(ByteOrder.LITTLE_ENDIAN);
            return new OutputCounters(header.getLong(24), header.getLong(32));
        }

        long sealedEpoch() {
            return nextEpoch - 1;
        }
    }

    static byte[] le64(long value) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array();
    }

    /** Copies all of guest memory, page by page, the way a checkpoint agent would. */
    static byte[] memoryImage(MemorySource source) {
        byte[] image = new byte[(int) source.memoryBytes()];
        MemorySegment dst = MemorySegment.ofArray(image);
        for (int page = 0; page < source.pageCount(); page++) {
            source.copyPage(page, dst, (long) page * source.pageSize());
        }
        return image;
    }

    /**
     * Stuns a counter guest ({@code spec}) until it has emitted outputs, none of them ever polled, so every one is
     * still in its output device at the stun; a guest restored from that stun must hold exactly those outputs, first
     * in line, and then go on from the stun's output count. Both backends' device states carry them.
     */
    static void assertOutputsNotTakenAtTheStunTravelInTheDeviceState(String spec) throws Exception {
        byte[] image = null;
        byte[] state = null;
        long emitted = 0;
        try (KvmSource primary = KvmSource.open(spec)) {
            primary.start();
            while (emitted == 0) {
                Thread.sleep(10);
                try (var stun = primary.stun()) {
                    state = stun.deviceState();
                    emitted = OutputCounters.of(state).emitted();
                    if (emitted > 0) {
                        image = memoryImage(primary);
                    }
                }
                assertTrue(primary.fault().isEmpty(),
                        () -> "guest faulted: " + primary.fault());
            }
        }
        try (KvmSource standby = KvmSource.restore(SourceSpec.parse(spec), image, state)) {
            List<GuestOutput> pending = standby.pollOutputs(Long.MAX_VALUE);
            assertEquals(emitted, pending.size(), "pending outputs restored");
            for (int i = 0; i < pending.size(); i++) {
                assertEquals(i + 1, pending.get(i).longValue());
                assertEquals(i, pending.get(i).index());
            }
            standby.start();
            GuestOutput next = awaitOutput(standby, out -> true);
            assertEquals(emitted + 1, next.longValue(), "then the guest continues");
            assertEquals(emitted, next.index());
        }
    }
}
