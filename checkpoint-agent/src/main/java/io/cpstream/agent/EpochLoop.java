package io.cpstream.agent;

import io.cpstream.encoder.ImageDigest;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.ProtectedPages;
import io.cpstream.tracker.Stun;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.BitSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Takes checkpoints: waits for the next epoch boundary and for room in the pipeline, stuns the guest,
 * harvests its dirty pages, copies what the plan says into staging, captures the device state, and
 * resumes. Encoding and sending happen on the sender's thread while the guest runs again.
 *
 * <p>With the history split, only the planned pages {@link PageHistory} deems hot are copied inside the
 * stun; the stable ones are write-protected there and copied right after the guest resumed, the source
 * saving any the guest writes first, so the checkpoint is still exactly the state at the stun. The epoch
 * length comes from the {@link EpochController} (fixed unless a stun target or bandwidth budget is set).
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
    /** Told the epoch of each stun, inside it (record/replay notes the port access the checkpoint is taken at). */
    private volatile java.util.function.LongConsumer stunListener = epoch -> { };
    private final PageHistory history;
    private final EpochController controller;
    /** Whether stable pages are copied after the resume (history split on a source that can protect pages). */
    private final boolean deferStable;
    private final int minProtectRun;
    private long previousStunNanos = -1;
    /** Recent peak of the staging a checkpoint needed, decaying: what to have ready before the next stun. */
    private long stagingPeakBytes;
    private long previousWireBytes;
    /** Verify mode: where the whole-memory digest is computed (see {@link #verifyDigest()}). */
    private java.util.concurrent.ExecutorService verifier;
    private volatile boolean running = true;

    void onStun(java.util.function.LongConsumer listener) {
        stunListener = listener;
    }

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
        this.history = new PageHistory(source.pageCount(), config.stun().hotEpochs());
        this.controller = new EpochController(config.epochInterval(), config.stun().maxStun(), config.stun().maxMbps());
        boolean wantSplit = config.stun().split() == StunConfig.Split.HISTORY;
        var unavailable = source.protectionUnavailable();
        this.deferStable = wantSplit && unavailable.isEmpty();
        this.minProtectRun = source.protectionMinRun();
        if (wantSplit && unavailable.isPresent()) {
            LOG.log(System.Logger.Level.INFO, "vm {0}: copying every dirty page inside the stun: {1}", config.vmId(),
                    unavailable.get());
        }
        metrics.epochIntervalMicros.set(controller.intervalNanos() / 1000);
    }

    /** The window the kernel gave when it refused real time: kept, since asking again cannot change the answer. */
    private ThreadPriority.Window realtimeRefused;

    boolean defersStablePages() {
        return deferStable;
    }

    void stop() {
        running = false;
    }

    @Override
    public void run() {
        long next = System.nanoTime();
        try {
            while (running) {
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
                // Backpressure: with the pipeline full the epoch stretches; dirty pages keep accumulating
                // in the tracker and go out in the next, larger checkpoint. A primary about to end going on alone
                // waits for an empty pipeline instead (OutputGate.standbyReady says why).
                if (!state.awaitCapacity(outputs.rejoining() ? 1 : config.maxInFlight(), 100)) {
                    continue;
                }
                if (outputs.rejoining() && state.inFlight() > 0) {
                    continue; // the ack that woke us made the standby ready: it frees no room now
                }
                countMerged(System.nanoTime() - next);
                long started = System.nanoTime();
                StagingPool.Lease lease = staging.reserve(stagingPeakBytes + stagingPeakBytes / 4);
                CapturedCheckpoint checkpoint;
                try {
                    checkpoint = capture(lease);
                } catch (RuntimeException e) {
                    lease.close();
                    throw e;
                }
                outbox.put(checkpoint);
                next = Math.max(controller.nextBoundaryNanos(started), System.nanoTime());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            if (Thread.currentThread().isInterrupted()) {
                return; // stopping: an interrupted verify digest is not a failure
            }
            LOG.log(System.Logger.Level.ERROR, "epoch loop failed", e);
            throw e;
        } finally {
            if (verifier != null) {
                verifier.shutdownNow();
            }
        }
    }

    /**
     * Counts the epoch boundaries that passed while the loop waited for room in the pipeline ({@code lateNanos} past
     * the one it was due at): each is a checkpoint not taken, merged into the next one.
     */
    private void countMerged(long lateNanos) {
        long merged = lateNanos / Math.max(1, controller.intervalNanos());
        if (merged > 0) {
            stats.recordMerged(merged);
            metrics.mergedEpochs.increment(merged);
        }
    }

    /** One checkpoint, its pages copied into {@code lease} (reserved before the stun, sized inside it). */
    private CapturedCheckpoint capture(StagingPool.Lease lease) {
        int pageSize = source.pageSize();
        CheckpointPlan plan;
        byte[] deviceState;
        byte[] digest = null;
        long stunNanos;
        long stunUnixMicros;
        long dirtyCount;
        int planned;
        BitSet dirty;
        BitSet stable = new BitSet();
        StagingSlots slots;
        ProtectedPages deferred = null;
        BitSet overflow = null;
        long verifyNanos = 0;
        long resumed;
        long begin;
        try {
            Stun stun;
            try (ThreadPriority.Window realtime = stunWindow()) {
                // The pause starts where the guest is asked to stop, after the switch to real time.
                begin = System.nanoTime();
                stun = source.stun();
                try (stun) {
                    stunNanos = System.nanoTime();
                    dirty = stun.harvestDirty();
                    dirtyCount = dirty.cardinality();
                    if (state.inFlight() == 0) {
                        outputs.rejoinIfReady();
                    }
                    // Taken while stunned: exactly the outputs whose cause this checkpoint contains. With too much
                    // output pending they stay in the guest and belong to a later epoch.
                    long outputEnd = outputs.capture();
                    plan = state.plan(dirty, stunNanos, outputEnd);
                    BitSet pages = plan.pages();
                    planned = pages.cardinality();
                    slots = new StagingSlots(pages);
                    long needed = (long) planned * pageSize;
                    if (deferStable && needed > lease.capacity()) {
                        // The dirty set outgrew the reservation. Allocating here would zero and fault in a fresh
                        // buffer with the guest stopped (tens of ms for a large set): the pages beyond the reserved
                        // slots are protected like stable ones instead, and copied into a larger buffer after resume.
                        overflow = slots.fromSlot((int) (lease.capacity() / pageSize));
                        lease.fit(lease.capacity());
                    } else {
                        lease.fit(needed);
                    }
                    if (deferStable) {
                        stable = history.stable(pages, minProtectRun);
                        if (overflow != null) {
                            stable.or(overflow);
                        }
                        if (!stable.isEmpty()) {
                            deferred = stun.protect(stable);
                        }
                    }
                    BitSet hot = pages;
                    if (!stable.isEmpty()) {
                        hot = (BitSet) pages.clone();
                        hot.andNot(stable);
                    }
                    copyPages(hot, slots, lease.segment(), pageSize, null);
                    deviceState = stun.deviceState();
                    stunListener.accept(plan.epoch());
                    if (config.verify()) {
                        long verifyStart = System.nanoTime();
                        digest = verifyDigest();
                        verifyNanos = System.nanoTime() - verifyStart;
                    }
                }
            }
            // The pause ends where the guest was let go, not where close() returned: the release wakes the
            // guest's threads, and the scheduler often hands one of them this thread's CPU right there.
            resumed = stun.resumedAtNanos();
            // Wall-clock time of the stun, for the collector's lag: read now and moved back by the monotonic
            // time since, because reading it inside the stun cost microseconds of a stopped guest.
            stunUnixMicros = ChronoUnit.MICROS.between(Instant.EPOCH, Instant.now())
                    - (System.nanoTime() - stunNanos) / 1000;
            if (overflow != null) {
                lease.grow((long) planned * pageSize);
            }
            if (deferred != null) {
                // The guest runs again: copy the stable pages as they were at the stun, lifting protection.
                copyPages(stable, slots, lease.segment(), pageSize, deferred);
            }
        } finally {
            if (deferred != null) {
                deferred.close();
            }
        }
        // The verification scan (verify mode only) is not part of what a stun costs in production.
        long pause = resumed - begin - verifyNanos;
        long staged = (long) planned * pageSize;
        stagingPeakBytes = plan.full() ? stagingPeakBytes : Math.max(staged, stagingPeakBytes - stagingPeakBytes / 16);
        history.record(dirty);
        if (deferred != null) {
            long faults = deferred.cowFaults();
            stats.recordDeferred(stable.cardinality(), faults);
            metrics.deferredPages.increment(stable.cardinality());
            metrics.cowFaults.increment(faults);
        }
        adaptEpoch(pause, stunNanos);
        metrics.pause.record(pause, TimeUnit.NANOSECONDS);
        if (lease.allocated()) {
            metrics.stagingAllocations.increment();
        }
        metrics.checkpoints.increment();
        metrics.dirtyPages.record(dirtyCount);
        if (plan.full()) {
            metrics.fullCheckpoints.increment();
        }
        stats.recordCapture(pause, dirtyCount, planned - stable.cardinality()); // stable: copied after the resume
        if (digest != null) {
            digests.put(plan.epoch(), digest);
        }
        return new CapturedCheckpoint(plan, lease, planned, deviceState, stunUnixMicros, stunNanos,
                pause, digest);
    }

    /**
     * Copies {@code pages} into their slots of the staging buffer: inside the stun from the source, after
     * it from {@code deferred}, which yields each protected page as it was at the stun.
     */
    private void copyPages(BitSet pages, StagingSlots slots, MemorySegment into, int pageSize, ProtectedPages deferred) {
        for (int page = pages.nextSetBit(0); page >= 0; page = pages.nextSetBit(page + 1)) {
            long offset = (long) slots.slot(page) * pageSize;
            if (deferred != null) {
                deferred.copyPage(page, into, offset);
            } else {
                source.copyPage(page, into, offset);
            }
        }
    }

    /**
     * A real-time window for the stun ({@link ThreadPriority#realtimeWindow}): without it a stun of tens of
     * microseconds sometimes waited milliseconds for the CPU. Refused without CAP_SYS_NICE: said once, and not asked
     * for again (no system call before every stun).
     */
    private ThreadPriority.Window stunWindow() {
        if (realtimeRefused != null) {
            return realtimeRefused;
        }
        ThreadPriority.Window window = ThreadPriority.realtimeWindow();
        if (window.refused() != null) {
            realtimeRefused = window;
            LOG.log(System.Logger.Level.INFO, "vm {0}: stuns run under the normal scheduling policy: {1}",
                    config.vmId(), window.refused());
        }
        return window;
    }

    /** Feeds the epoch's stun and the stream's rate to the controller; reports when a target cannot be met. */
    private void adaptEpoch(long pause, long stunNanos) {
        long wire = stats.wireBytesTotal();
        if (previousStunNanos >= 0) {
            EpochController.Verdict before = controller.verdict();
            EpochController.Verdict verdict = controller.observe(pause, wire - previousWireBytes,
                    stunNanos - previousStunNanos);
            long interval = controller.intervalNanos();
            metrics.epochIntervalMicros.set(interval / 1000);
            stats.recordEpochDecision(interval / 1e6, verdict);
            switch (verdict) {
                case STUN_TARGET_MISSED -> metrics.stunTargetMisses.increment();
                case BANDWIDTH_EXCEEDED -> metrics.bandwidthExceeded.increment();
                case MET -> { }
            }
            if (verdict != before) {
                LOG.log(verdict == EpochController.Verdict.MET ? System.Logger.Level.INFO : System.Logger.Level.WARNING,
                        "vm {0}: {1} (stun {2} ms smoothed, target {3}; stream {4} Mbit/s smoothed, budget {5}; epoch {6} ms)",
                        config.vmId(), describe(verdict), String.format("%.2f", controller.smoothedStunMillis()),
                        config.stun().maxStun() == null ? "none" : config.stun().maxStun().toNanos() / 1e6 + " ms",
                        String.format("%.1f", controller.smoothedMbps()),
                        config.stun().maxMbps() == 0 ? "none" : config.stun().maxMbps() + " Mbit/s",
                        String.format("%.2f", interval / 1e6));
            }
        }
        previousStunNanos = stunNanos;
        previousWireBytes = wire;
    }

    private static String describe(EpochController.Verdict verdict) {
        return switch (verdict) {
            case MET -> "epoch length meets the stun target and bandwidth budget again";
            case STUN_TARGET_MISSED -> "cannot meet the stun target: the epoch is as short as it may be "
                    + "(or held long by the bandwidth budget)";
            case BANDWIDTH_EXCEEDED -> "cannot meet the bandwidth budget: the epoch is as long as it may be";
        };
    }

    /**
     * The guest's digest for verify mode, computed on a helper thread while this one waits (still stunned):
     * a scan of all memory is a long CPU burst, and had this thread run it, the scheduler would take the
     * CPU back from it in the next few hundred microseconds, charging that to the part of the stun that
     * is measured. The scan itself is timed apart from the pause.
     */
    private byte[] verifyDigest() {
        if (verifier == null) {
            verifier = java.util.concurrent.Executors.newSingleThreadExecutor(
                    Thread.ofPlatform().daemon().name("agent-verify-" + config.vmId()).factory());
        }
        try {
            return verifier.submit(this::guestDigest).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while computing the verify digest", e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException("computing the verify digest failed", e.getCause());
        }
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
