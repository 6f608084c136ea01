package io.cpstream.agent;

import io.cpstream.encoder.DeltaBaseCache;
import io.cpstream.encoder.DuplicateIndex;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.Lz4Backoff;
import io.cpstream.encoder.PageChecksums;
import io.cpstream.encoder.PageEncoder;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.proto.Feedback;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Chooses the encoding of every page the sender streams, and keeps what that takes: the delta base cache (copies
 * of what the collector holds, for the pages its Feedback calls delta candidates), the duplicate index, and the
 * modification history that drives base eviction.
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

    /** Direct-mapped duplicate index entries, at most (24 bytes each): two per page of guest memory up to this. */
    private static final int MAX_DUPLICATE_SLOTS = 1 << 21;

    private final EncodingMode mode;
    private final int pageCount;
    private final AgentMetrics metrics;
    private final PageEncoder encoder;
    private final PageWriteHistory history;
    private final DeltaBaseCache bases;
    private final DuplicateIndex duplicates;
    /** Per page: whether LZ4 is worth trying on it (it is skipped for a while after it did not pay). */
    private final Lz4Backoff lz4Backoff;
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
        if (mode == EncodingMode.CPSTREAM) {
            history = new PageWriteHistory(pageCount);
            bases = new DeltaBaseCache(pageSize, pageCount, Math.max(pageSize, baseCacheBytes),
                    slots -> new HistoryEviction(history, slots));
            duplicates = new DuplicateIndex(pageCount, (int) Math.min(MAX_DUPLICATE_SLOTS, 2L * pageCount));
            lz4Backoff = new Lz4Backoff(pageCount);
        } else {
            history = null;
            bases = null;
            duplicates = null;
            lz4Backoff = null;
        }
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
                    bases.remove(page);
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
            duplicates.clear();
        } else if (base < lastCompleted || open) {
            // Restarting from an older committed epoch, or after a checkpoint left half sent: what was sent
            // after the base never committed (the restart's base is always older than the half-sent one).
            bases.discardNewerThan(base);
            duplicates.clear();
        }
        open = true;
        history.advance(epoch);
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
        history.written(page);
        MemorySegment base = bases.base(page);
        boolean candidate = bases.isCandidate(page);
        EncodedPage record = encoder.encode(page, content, base, base == null ? 0 : bases.version(page), duplicates,
                lz4Backoff);
        if (candidate) {
            metrics.deltaCandidatePages.increment();
            if (record.encoding() == PageEncoding.DELTA) {
                metrics.deltaCandidateHits.increment();
            }
        }
        if (record.encoding() == PageEncoding.ZERO) {
            bases.remove(page);  // a zero page is free to send; its copy would only take a slot
        } else {
            bases.sent(page, content, epoch);
        }
        if (record.encoding() == PageEncoding.DELTA && deltasToCorrupt.get() > 0
                && deltasToCorrupt.getAndDecrement() > 0) {
            return corrupted(record);
        }
        return record;
    }

    /** The whole checkpoint is encoded: its pages become what the collector holds for the next one. */
    void end() {
        open = false;
        lastCompleted = epoch;
        if (duplicates != null) {
            duplicates.publish();
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
