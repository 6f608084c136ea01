package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;

/**
 * The sender's half of cpstream, one per stream: what the agent runs for every page it sends, and what
 * {@code compare.CpstreamCodec} measures. It owns the {@link PageEncoder}, the {@link DeltaBaseCache} (with
 * {@link HistoryEviction} driven by a {@link PageWriteHistory}), the {@link DuplicateIndex} and the
 * {@link Lz4Backoff}, and keeps them consistent with each other:
 * <pre>
 * begin(N) · encode(page, content)* · end()        one checkpoint, pages in any order
 * acceptFeedback(...)                              the receiver's verdicts ({@link StreamDecoder})
 * discardNewerThan(B) / discardVersionsUpTo(V) / clear() / forget(page)   when the receiver's copies change
 * </pre>
 * Which copies the receiver holds at any moment is the caller's business (the agent's {@code CheckpointEncoder}
 * follows its chain of checkpoints and calls the discard methods); this class only promises that a DELTA names the
 * version it was given and a DUPLICATE a page published before the open checkpoint.
 *
 * <p>Not thread-safe: used by the thread that encodes the stream.
 */
public final class StreamEncoder implements AutoCloseable {

    /** Direct-mapped duplicate index entries, at most (24 bytes each): two per page of guest memory up to this. */
    public static final int MAX_DUPLICATE_SLOTS = 1 << 21;

    private final PageEncoder encoder;
    private final PageWriteHistory history;
    private final DeltaBaseCache bases;
    private final DuplicateIndex duplicates;
    private final Lz4Backoff lz4Backoff;
    private long epoch;

    /**
     * @param baseCacheBytes bytes of base copies to hold at most (at least one page is held)
     */
    public StreamEncoder(int pageSize, int pageCount, long baseCacheBytes) {
        encoder = new PageEncoder(pageSize);
        history = new PageWriteHistory(pageCount);
        bases = new DeltaBaseCache(pageSize, pageCount, Math.max(pageSize, baseCacheBytes),
                slots -> new HistoryEviction(history, slots, this::worthKeeping));
        duplicates = new DuplicateIndex(pageCount, (int) Math.min(MAX_DUPLICATE_SLOTS, 2L * pageCount));
        lz4Backoff = new Lz4Backoff(pageCount);
    }

    /** Checkpoint {@code epoch} is about to be encoded: the version its pages will have on the receiver. */
    public void begin(long epoch) {
        this.epoch = epoch;
        history.advance(epoch);
    }

    /**
     * Encodes the new {@code content} of {@code page} in the open checkpoint: ZERO, DUPLICATE, DELTA against the base
     * held, LZ4 or FULL, whichever is smallest (see {@link PageEncoder}), and keeps a base of it (see
     * {@link DeltaBaseCache#sent}). The payload is valid until the next call.
     */
    public EncodedPage encode(long page, MemorySegment content) {
        history.written((int) page);
        MemorySegment base = bases.base(page);
        EncodedPage record = encoder.encode(page, content, base, base == null ? 0 : bases.version(page), duplicates,
                lz4Backoff);
        bases.sent(page, content, epoch);
        return record;
    }

    /** Every page of the open checkpoint is encoded: they become duplicate sources for the next one. */
    public void end() {
        duplicates.publish();
    }

    /** The receiver's verdicts ({@link StreamDecoder#drainCandidates()}, {@link StreamDecoder#drainNotCandidates()}). */
    public void acceptFeedback(long[] candidates, long[] notCandidates) {
        bases.acceptFeedback(candidates, notCandidates);
    }

    /** The receiver dropped every checkpoint after {@code committedEpoch}: copies and duplicate sources after it go. */
    public void discardNewerThan(long committedEpoch) {
        bases.discardNewerThan(committedEpoch);
        duplicates.clear();
    }

    /** The receiver no longer knows which epoch wrote versions up to {@code version}: deltas against them would fail. */
    public void discardVersionsUpTo(long version) {
        bases.discardVersionsUpTo(version);
    }

    /** The receiver's image cannot be placed: nothing it holds may be named. */
    public void clear() {
        bases.clear();
        duplicates.clear();
    }

    /** {@code page} must travel whole next time (the receiver failed to decode or verify it). */
    public void forget(long page) {
        bases.remove(page);
    }

    /** What {@link HistoryEviction} keeps longest: candidates and pages not judged yet. */
    private boolean worthKeeping(long page) {
        return bases.worthKeeping(page);
    }

    public boolean isCandidate(long page) {
        return bases.isCandidate(page);
    }

    public DeltaBaseCache bases() {
        return bases;
    }

    @Override
    public void close() {
        bases.close();
    }
}
