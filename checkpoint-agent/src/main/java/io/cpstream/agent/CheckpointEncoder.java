package io.cpstream.agent;

import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.PageChecksums;
import io.cpstream.encoder.PageEncoder;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.encoder.StreamEncoder;
import io.cpstream.proto.Feedback;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Chooses the encoding of every page the sender streams. In cpstream mode that is diff-encoder's
 * {@link StreamEncoder} (delta base cache, duplicate index, LZ4 backoff, the modification history that drives base
 * eviction), the same object {@code bench --compare-encoders} measures; this class keeps it in step with what the
 * collector holds.
 *
 * <p>The rule that keeps the standby byte-exact (I1): a DELTA names a base version, and a DUPLICATE a source page,
 * only when the collector is certain to hold exactly that when it applies the checkpoint. A checkpoint applies
 * only on top of its base epoch, and the base epoch of checkpoint N is N-1 in steady state, so every page the
 * sender encoded in the chain up to the base is held by the collector whenever N applies at all, acknowledged yet
 * or not. Whenever the chain breaks, the copies that may not be held are dropped before the next page is encoded:
 * <ul>
 * <li>a checkpoint restarting from an older base (after a Resync or a reconnection): copies of versions after that
 *     base, and the whole duplicate index;</li>
 * <li>a full checkpoint, or a base the sender cannot place in its chain, or an earlier checkpoint left half sent:
 *     everything;</li>
 * <li>Welcome's {@code page_versions_after} (the collector restarted and no longer knows which epoch wrote its
 *     pages): copies of those versions;</li>
 * <li>pages a Resync names (they failed to decode or verify): their copies, so they go whole.</li>
 * </ul>
 * The collector checks the version of every delta and the CRC-32C of every page anyway, and asks for the page
 * whole when either fails; this class makes that the rare case.
 *
 * <p>The stream's threads report Welcome, Resync and Feedback through {@link #onWelcome}, {@link #onResync} and
 * {@link #onFeedback}; they are applied on the sender's thread before the next checkpoint is encoded (the sender
 * sees the checkpoint planned after them). Everything else runs on the sender's thread only.
 */
final class CheckpointEncoder implements AutoCloseable {

    private final EncodingMode mode;
    private final int pageCount;
    private final AgentMetrics metrics;
    private final PageEncoder encoder;
    /** cpstream mode only. */
    private final StreamEncoder bases;
    private final ConcurrentLinkedQueue<Runnable> fromCollector = new ConcurrentLinkedQueue<>();
    private final AtomicInteger deltasToCorrupt = new AtomicInteger();
    private long epoch;
    /** The last checkpoint encoded from start to end, whose pages the chain's next checkpoint may refer to. */
    private long lastCompleted;
    private boolean open;
    private boolean closed;

    CheckpointEncoder(EncodingMode mode, int pageSize, int pageCount, long baseCacheBytes, AgentMetrics metrics) {
        this.mode = mode;
        this.pageCount = pageCount;
        this.metrics = metrics;
        this.encoder = new PageEncoder(pageSize);
        bases = mode == EncodingMode.CPSTREAM ? new StreamEncoder(pageSize, pageCount, baseCacheBytes) : null;
    }

    // ------------------------------------------------------------------ from the stream's threads

    /** A collector welcomed the stream; it knows page versions only after {@code pageVersionsAfter}. */
    void onWelcome(long pageVersionsAfter) {
        if (bases != null && pageVersionsAfter > 0) {
            fromCollector.add(() -> bases.discardVersionsUpTo(pageVersionsAfter));
        }
    }

    /** The collector dropped a checkpoint; {@code pages} failed to decode or verify and must travel whole. */
    void onResync(List<Long> pages) {
        if (bases != null && !pages.isEmpty()) {
            long[] named = pages.stream().mapToLong(Long::longValue).filter(this::inRange).toArray();
            fromCollector.add(() -> {
                for (long page : named) {
                    bases.forget(page);
                }
            });
        }
    }

    /** The collector's verdicts on which pages are worth a base copy. */
    void onFeedback(Feedback feedback) {
        if (bases != null) {
            long[] candidates = feedback.getDeltaCandidatesList().stream().mapToLong(Long::longValue)
                    .filter(this::inRange).toArray();
            long[] notCandidates = feedback.getNotCandidatesList().stream().mapToLong(Long::longValue)
                    .filter(this::inRange).toArray();
            fromCollector.add(() -> bases.acceptFeedback(candidates, notCandidates));
        }
    }

    /** Fault injection for tests: the next {@code count} deltas go out with one payload byte flipped. */
    void corruptNextDeltas(int count) {
        deltasToCorrupt.addAndGet(count);
    }

    // ------------------------------------------------------------------ on the sender's thread

    /** Checkpoint {@code plan} is about to be encoded, its pages in ascending order. */
    void begin(CheckpointPlan plan) {
        epoch = plan.epoch();
        if (bases == null) {
            return;
        }
        for (Runnable event; (event = fromCollector.poll()) != null; ) {
            event.run();
        }
        long base = plan.baseEpoch();
        if (plan.full() || base > lastCompleted) {
            // A new image, or a base this encoder never completed: it cannot tell what the collector holds.
            bases.clear();
        } else if (base < lastCompleted || open) {
            // Restarting from an older committed epoch, or after a checkpoint left half sent: what was sent
            // after the base never committed (the restart's base is always older than the half-sent one).
            bases.discardNewerThan(base);
        }
        open = true;
        bases.begin(epoch);
    }

    /** Encodes one page of the open checkpoint. The payload is valid until the next call. */
    EncodedPage encode(int page, MemorySegment content) {
        EncodedPage record = switch (mode) {
            case FULL -> new EncodedPage(PageEncoding.FULL, content.asReadOnly().asByteBuffer(),
                    PageChecksums.crc32c(content));
            case LZ4 -> encoder.encode(content);
            case CPSTREAM -> encodeWithContext(page, content);
        };
        metrics.pagesEncoded(record.encoding()).increment();
        return record;
    }

    private EncodedPage encodeWithContext(int page, MemorySegment content) {
        boolean candidate = bases.isCandidate(page);
        EncodedPage record = bases.encode(page, content);
        if (candidate) {
            metrics.deltaCandidatePages.increment();
            if (record.encoding().isDelta()) {
                metrics.deltaCandidateHits.increment();
            }
        }
        if (record.encoding() == PageEncoding.DELTA && record.payloadBytes() > 0 && deltasToCorrupt.get() > 0
                && deltasToCorrupt.getAndDecrement() > 0) {
            return corrupted(record);
        }
        return record;
    }

    /** The whole checkpoint is encoded: its pages become what the collector holds for the next one. */
    void end() {
        open = false;
        lastCompleted = epoch;
        if (bases != null) {
            bases.end();
        }
    }

    @Override
    public synchronized void close() {
        if (bases != null && !closed) {
            bases.close();
        }
        closed = true;
    }

    private boolean inRange(long page) {
        return page >= 0 && page < pageCount;
    }

    private static EncodedPage corrupted(EncodedPage record) {
        ByteBuffer payload = record.payload();
        byte[] bytes = new byte[payload.remaining()];
        payload.get(payload.position(), bytes);
        bytes[bytes.length - 1] ^= 0x01;
        return new EncodedPage(record.encoding(), ByteBuffer.wrap(bytes), record.crc32c(), record.baseVersion(),
                record.sourceIndex());
    }
}
