package io.cpstream.agent;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.output.FileOutputSink;
import io.cpstream.agent.output.OutputLog;
import io.cpstream.agent.output.OutputSink;
import io.cpstream.tracker.GuestOutput;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gate between the guest's output and the world, around losing the standby: alone it releases as it captures;
 * when a standby holds the VM again, new output waits for acknowledgements at once, but the primary counts as
 * protected only once an acknowledged checkpoint holds every output it released alone. Otherwise a failover right
 * after "protected again" would lose output the world already saw.
 */
class OutputGateTest {

    @TempDir
    Path dir;

    /** A guest whose output the test emits: each record its index, taken whole by the next poll. */
    private static final class Guest {
        final ConcurrentLinkedQueue<GuestOutput> pending = new ConcurrentLinkedQueue<>();
        long next;

        void emit(int count) {
            for (int i = 0; i < count; i++) {
                pending.add(new GuestOutput(0, next, new byte[] {(byte) next}));
                next++;
            }
        }

        List<GuestOutput> poll(long maxBytes) {
            List<GuestOutput> taken = new ArrayList<>();
            GuestOutput output;
            while (taken.size() < maxBytes && (output = pending.poll()) != null) {
                taken.add(output);
            }
            return taken;
        }
    }

    /** The gate's releaser on a thread of its own; closing stops and joins it (again: a no-op). */
    private record Releaser(OutputGate gate, Thread thread) implements AutoCloseable {
        static Releaser start(OutputGate gate) {
            return new Releaser(gate, Thread.ofPlatform().start(gate::releaseLoop));
        }

        @Override
        public void close() throws InterruptedException {
            gate.stop();
            thread.join();
        }
    }

    /** A gate releasing to {@code released} under a lease granted for ten minutes. */
    private static OutputGate leasedGate(Path released, Guest guest) throws IOException {
        PrimaryLease lease = new PrimaryLease();
        lease.granted(lease.heartbeatSent(), Duration.ofMinutes(10).toNanos() / 1000);
        return new OutputGate("vm", 0, new FileOutputSink(released), lease, 1 << 20, guest::poll);
    }

    @Test
    void protectedAgainOnlyOnceAnAcknowledgementHoldsWhatWasReleasedAlone() throws Exception {
        Path released = dir.resolve("released.log");
        Guest guest = new Guest();
        OutputGate gate = leasedGate(released, guest);
        try (Releaser _ = Releaser.start(gate)) {
            // Protected: output waits for the ack of the checkpoint that holds it.
            guest.emit(10);
            long cut = gate.capture();
            assertEquals(10, cut);
            assertTrue(gate.protectedByStandby());
            gate.committed(new Acknowledged(1, -1, cut));

            // The standby is lost: alone, output leaves as it comes, without a lease or an ack.
            gate.goAlone(1);
            assertFalse(gate.protectedByStandby());
            guest.emit(30);
            await().atMost(Duration.ofSeconds(10)).until(() -> OutputLog.read(released, "vm").size() == 40);

            // A new standby's full sync was cut at output 25 (the epoch loop's stun), then committed: it is ready,
            // but output leaves as it comes until a stun with nothing in flight switches back.
            gate.committed(new Acknowledged(2, -1, 25));
            gate.standbyReady();
            assertTrue(gate.rejoining());
            guest.emit(2);
            await().atMost(Duration.ofSeconds(10)).until(() -> OutputLog.read(released, "vm").size() == 42);
            gate.standbyGone();
            assertFalse(gate.rejoining(), "the standby's stream ended before the switch");
            gate.rejoinIfReady();
            assertTrue(gate.alone());
            gate.standbyReady();
            gate.rejoinIfReady(); // the stun with an empty pipeline
            assertFalse(gate.alone());
            assertFalse(gate.protectedByStandby(), "outputs 25..41 left alone and no acknowledged epoch holds them");

            // From now on output waits again: what the guest emits is not released before its ack.
            guest.emit(5);
            long next = gate.capture();
            assertEquals(47, next);
            Thread.sleep(200);
            assertEquals(42, OutputLog.read(released, "vm").size(), "output waits for the new standby");

            gate.committed(new Acknowledged(3, -1, next));
            assertTrue(gate.protectedByStandby(), "epoch 3 holds every output released alone");
            await().atMost(Duration.ofSeconds(10)).until(() -> OutputLog.read(released, "vm").size() == 47);
        }
    }

    /**
     * The primary raises the fencing epoch to go on alone while its releaser is asking the sink at the old one: the
     * sink (judging by the authority) refuses the old epoch, and the primary must take that for its own raise and
     * reopen at the new epoch, not stop as if a promotion had taken the VM over. A refusal of the epoch it holds still
     * stops it.
     */
    @Test
    void aRefusalOfTheEpochThisPrimaryJustLeftIsNotATakeover() throws Exception {
        Path released = dir.resolve("released.log");
        Guest guest = new Guest();
        CountDownLatch asking = new CountDownLatch(1);
        CountDownLatch raised = new CountDownLatch(1);
        AtomicLong authority = new AtomicLong(); // the epoch the authority holds, as the sink hears it
        OutputSink judged = new OutputSink() {
            private final FileOutputSink file = new FileOutputSink(released);
            private volatile long opened;

            @Override
            public long open(String vm, long fencingEpoch) throws IOException {
                if (fencingEpoch == 0) {
                    asking.countDown();
                    try {
                        raised.await();
                    } catch (InterruptedException e) {
                        throw new IOException(e);
                    }
                }
                if (fencingEpoch < authority.get()) {
                    throw new FencedException("fencing epoch " + fencingEpoch + " was taken over");
                }
                opened = fencingEpoch;
                return file.open(vm, fencingEpoch);
            }

            @Override
            public void write(long first, List<byte[]> records) throws IOException {
                if (opened < authority.get()) {
                    throw new FencedException("fencing epoch " + opened + " was taken over");
                }
                file.write(first, records);
            }

            @Override
            public void close() throws IOException {
                file.close();
            }
        };
        OutputGate gate = new OutputGate("vm", 0, judged, new PrimaryLease(), 1 << 20, guest::poll);
        try (Releaser _ = Releaser.start(gate)) {
            asking.await();
            authority.set(1); // this primary's own compare-and-set, while its releaser asks at epoch 0
            gate.goAlone(1);
            raised.countDown();
            guest.emit(3);
            await().atMost(Duration.ofSeconds(10)).until(() -> OutputLog.read(released, "vm").size() == 3);
            assertEquals(null, gate.fenced(), "refused at the epoch it left, not taken over");

            authority.set(2); // a promotion elsewhere: the epoch this primary holds is refused
            guest.emit(1);
            await().atMost(Duration.ofSeconds(10)).until(() -> gate.fenced() != null);
        }
    }

    /**
     * A checkpoint's records and the release end it reports are one reading: under record/replay protection outputs
     * leave before their checkpoint commits, and a release end read before the slice (older than its start) made the
     * collector refuse the commit as a gap (seen in bench --compare-protect).
     */
    @Test
    void aCheckpointsSliceCarriesTheReleaseEndOfTheSameMoment() throws Exception {
        Path released = dir.resolve("released.log");
        Guest guest = new Guest();
        OutputGate gate = new OutputGate("vm", 0, new FileOutputSink(released), new PrimaryLease(), 1 << 20, guest::poll);
        try (Releaser releaser = Releaser.start(gate)) {
            gate.goAlone(0); // outputs leave as they come, before any checkpoint holds them
            guest.emit(10);
            await().atMost(Duration.ofSeconds(10)).until(() -> gate.releasedEnd() == 10);
            releaser.close(); // nothing more leaves: the slice below sees the held records as a checkpoint would
            guest.emit(5);
            gate.capture();
            OutputGate.Slice slice = gate.slice(0, 15); // a checkpoint planned from output 0 on
            assertEquals(10, slice.start(), "outputs below 10 were released and dropped");
            assertEquals(10, slice.releasedEnd(), "released up to where the slice starts: no gap between them");
            assertEquals(5, slice.records().size());
        }
    }

    /**
     * A promoted VM replaying its log passes again through outputs its predecessor released: the sink said where it
     * stands when the gate opened it, before the gate held any of them, and none of them is offered to it again (an
     * offer the sink refuses as a gap, which it counts as a duplicate attempt).
     */
    @Test
    void recordsTakenAfterOpeningThatTheSinkHoldsAreNeverOffered() throws Exception {
        Path released = dir.resolve("released.log");
        try (FileOutputSink predecessor = new FileOutputSink(released)) {
            predecessor.open("vm", 0);
            List<byte[]> first = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                first.add(new byte[] {(byte) i});
            }
            predecessor.write(0, first);
        }
        Guest guest = new Guest();
        CountDownLatch opened = new CountDownLatch(1);
        AtomicLong refused = new AtomicLong();
        OutputSink counting = new OutputSink() {
            private final FileOutputSink file = new FileOutputSink(released);

            @Override
            public long open(String vm, long fencingEpoch) throws IOException {
                long next = file.open(vm, fencingEpoch);
                opened.countDown();
                return next;
            }

            @Override
            public void write(long first, List<byte[]> records) throws IOException {
                try {
                    file.write(first, records);
                } catch (OutputGapException e) {
                    refused.incrementAndGet();
                    throw e;
                }
            }

            @Override
            public void close() throws IOException {
                file.close();
            }
        };
        OutputGate gate = new OutputGate("vm", 1, counting, new PrimaryLease(), 1 << 20, guest::poll);
        try (Releaser _ = Releaser.start(gate)) {
            gate.goAlone(1);
            opened.await();
            guest.emit(15); // outputs 0..14: the replay's 0..9, then its own
            await().atMost(Duration.ofSeconds(10)).until(() -> OutputLog.read(released, "vm").size() == 15);
            assertEquals(0, refused.get(), "no record the sink holds was offered again");
            assertEquals(15, gate.releasedEnd());
        }
    }

    /**
     * Quasi-lockstep: an output leaves only once the collector's secondary matched it, whatever else acknowledged it
     * (its inputs journaled, or a checkpoint holding it); the digests the gate took are those of the outputs it
     * captured, in order; a collector that runs no secondary lets outputs go as under record/replay.
     */
    @Test
    void underLockstepAnOutputWaitsForTheSecondaryToMatchIt() throws Exception {
        Path released = dir.resolve("released.log");
        Guest guest = new Guest();
        OutputGate gate = leasedGate(released, guest);
        gate.lockstep();
        try (Releaser _ = Releaser.start(gate)) {
            guest.emit(10);
            assertEquals(10, gate.capture());
            OutputGate.Digests digests = gate.takeDigests();
            assertEquals(0, digests.from());
            assertEquals(10, digests.digests().length);
            assertEquals(io.cpstream.tracker.replay.OutputDigest.of(new byte[] {3}), digests.digests()[3]);
            assertEquals(0, gate.takeDigests().digests().length, "taken once");

            gate.logAcknowledged(10);
            gate.committed(new Acknowledged(1, -1, 10));
            Thread.sleep(200);
            assertEquals(0, OutputLog.read(released, "vm").size(), "acknowledged, but not compared yet");

            gate.compared(4, true);
            await().atMost(Duration.ofSeconds(10)).until(() -> OutputLog.read(released, "vm").size() == 4);
            Thread.sleep(100);
            assertEquals(4, OutputLog.read(released, "vm").size(), "none past the compared end");

            gate.compared(2, true); // an older answer: the compared end never goes back
            gate.compared(7, false); // a collector that runs no secondary: as under record/replay
            await().atMost(Duration.ofSeconds(10)).until(() -> OutputLog.read(released, "vm").size() == 10);

            guest.emit(2);
            assertEquals(12, gate.capture());
            OutputGate.Digests more = gate.takeDigests();
            assertEquals(10, more.from(), "digests continue the output stream");
            assertEquals(2, more.digests().length);
        }
    }
}
