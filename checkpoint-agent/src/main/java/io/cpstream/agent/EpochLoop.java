package io.cpstream.agent;

import io.cpstream.encoder.ImageDigest;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.Stun;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Takes checkpoints: waits for the next epoch boundary and for room in the pipeline, stuns the guest,
 * harvests its dirty pages, copies what the plan says into staging, captures the device state, and
 * resumes. Encoding and sending happen on the sender's thread while the guest runs again.
 */
final class EpochLoop implements Runnable {

    private static final System.Logger LOG = System.getLogger(EpochLoop.class.getName());
    private static final int DIGEST_CHUNK_PAGES = 256;

    private final MemorySource source;
    private final ReplicationState state;
    private final StagingPool staging;
    private final BlockingQueue<CapturedCheckpoint> outbox;
    private final AgentConfig config;
    private final AgentMetrics metrics;
    private final AgentStats stats;
    private final DigestLog digests;
    private final OutputGate outputs;
    private volatile boolean running = true;

    EpochLoop(MemorySource source, ReplicationState state, StagingPool staging, BlockingQueue<CapturedCheckpoint> outbox,
              AgentConfig config, AgentMetrics metrics, AgentStats stats, DigestLog digests, OutputGate outputs) {
        this.outputs = outputs;
        this.source = source;
        this.state = state;
        this.staging = staging;
        this.outbox = outbox;
        this.config = config;
        this.metrics = metrics;
        this.stats = stats;
        this.digests = digests;
    }

    void stop() {
        running = false;
    }

    @Override
    public void run() {
        long interval = config.epochInterval().toNanos();
        long next = System.nanoTime();
        try {
            while (running) {
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
                // Backpressure: with the pipeline full the epoch stretches; dirty pages keep accumulating
                // in the tracker and go out in the next, larger checkpoint.
                if (!state.awaitCapacity(config.maxInFlight(), 100)) {
                    continue;
                }
                long started = System.nanoTime();
                outbox.put(capture());
                next = Math.max(started + interval, System.nanoTime());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "epoch loop failed", e);
            throw e;
        }
    }

    private CapturedCheckpoint capture() {
        int pageSize = source.pageSize();
        long begin = System.nanoTime();
        CheckpointPlan plan;
        StagingPool.Lease lease;
        byte[] deviceState;
        byte[] digest = null;
        long stunNanos;
        long stunUnixMicros;
        long dirtyCount;
        try (Stun stun = source.stun()) {
            stunNanos = System.nanoTime();
            stunUnixMicros = ChronoUnit.MICROS.between(Instant.EPOCH, Instant.now());
            BitSet dirty = stun.harvestDirty();
            dirtyCount = dirty.cardinality();
            // Taken while stunned: exactly the outputs whose cause this checkpoint contains. With too much
            // output pending they stay in the guest and belong to a later epoch.
            long outputEnd = outputs.capture(outputs.full() ? List.of() : source.pollOutputs());
            plan = state.plan(dirty, stunNanos, outputEnd);
            lease = staging.take((long) plan.pages().cardinality() * pageSize);
            MemorySegment into = lease.segment();
            long offset = 0;
            BitSet pages = plan.pages();
            for (int page = pages.nextSetBit(0); page >= 0; page = pages.nextSetBit(page + 1)) {
                source.copyPage(page, into, offset);
                offset += pageSize;
            }
            deviceState = stun.deviceState();
            if (config.verify()) {
                digest = guestDigest();
            }
        }
        long pause = System.nanoTime() - begin;
        metrics.pause.record(pause, TimeUnit.NANOSECONDS);
        metrics.checkpoints.increment();
        metrics.dirtyPages.record(dirtyCount);
        if (plan.full()) {
            metrics.fullCheckpoints.increment();
        }
        stats.recordCapture(pause, dirtyCount);
        if (digest != null) {
            digests.put(plan.epoch(), digest);
        }
        return new CapturedCheckpoint(plan, lease, plan.pages().cardinality(), deviceState, stunUnixMicros, stunNanos,
                pause, digest);
    }

    /** SHA-256 of all guest memory, read through the source like every other page. */
    private byte[] guestDigest() {
        MessageDigest sha = ImageDigest.newSha256();
        int pageSize = source.pageSize();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment chunk = arena.allocate((long) DIGEST_CHUNK_PAGES * pageSize, 4096);
            for (int first = 0; first < source.pageCount(); first += DIGEST_CHUNK_PAGES) {
                int count = Math.min(DIGEST_CHUNK_PAGES, source.pageCount() - first);
                for (int i = 0; i < count; i++) {
                    source.copyPage(first + i, chunk, (long) i * pageSize);
                }
                ImageDigest.update(sha, chunk.asSlice(0, (long) count * pageSize));
            }
        }
        return sha.digest();
    }
}
