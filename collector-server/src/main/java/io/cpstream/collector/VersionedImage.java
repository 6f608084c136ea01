package io.cpstream.collector;

import io.cpstream.collector.store.ImageStore;
import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.encoder.ReceiverPages;
import io.cpstream.encoder.StreamDecoder;
import java.nio.ByteBuffer;
import java.lang.foreign.MemorySegment;
import io.cpstream.encoder.SparseBits;
import io.cpstream.encoder.SparseLongs;

/**
 * The committed image as page records see it: which epoch last wrote each page (a DELTA applies only against
 * exactly the version it names), the committed pages a DELTA or DUPLICATE refers to, and the decoding of a
 * batch's records into pages verified together (the CRC-32Cs of the pages folded, invariant I4).
 *
 * <p>Versions are known only for pages written since this collector process started, or since it last lost
 * track ({@link #forgetVersions}): {@link #versionsKnownAfter()} is what Welcome tells the agent.
 */
final class VersionedImage implements ReceiverPages {

    private final ImageStore store;
    private final int pageSize;
    /** Per page, its version; heap for the pages written in differing epochs, not for the declared guest. */
    private final SparseLongs versions;
    /** diff-encoder's receiver half: decoding, and the verdicts the {@link DeltaAdvisor} sends back. */
    private final StreamDecoder decoder;
    private final MemorySegment scratch;
    private long versionsKnownAfter;

    VersionedImage(ImageStore store) {
        this.store = store;
        this.pageSize = store.manifest().pageSize();
        this.versions = new SparseLongs(store.manifest().pageCount());
        this.decoder = new StreamDecoder(pageSize, versions.size());
        this.scratch = MemorySegment.ofArray(new byte[pageSize]);
        this.versionsKnownAfter = store.manifest().committedEpoch();
    }

    long pageCount() {
        return versions.size();
    }

    /**
     * Heap the per-page state of this standby holds (versions and delta verdicts): a directory proportional to the
     * declared guest (16 bytes per 1024 pages) and leaves for the pages actually written.
     */
    long heapBytes() {
        return versions.heapBytes() + decoder.heapBytes();
    }

    /** A batch of records begins: {@link #decode} folds each page into its check, {@link #endBatch} verifies it. */
    void beginBatch() {
        decoder.beginBatch();
    }

    /**
     * Decodes the record of page {@code index} into {@link #scratch()}; it may be applied only once {@link #endBatch}
     * verified its batch. A full checkpoint may not depend on what the standby holds, so it may carry no DELTA or
     * DUPLICATE.
     */
    PageEncoding decode(long index, PageEncoding encoding, ByteBuffer data, long baseVersion, long sourceIndex,
            boolean full) throws CorruptPageException {
        if (full && encoding.dependsOnReceiver()) {
            throw new CorruptPageException(CorruptPageException.Reason.BASE_NOT_HELD, encoding
                    + " record in a full checkpoint, which must not depend on what the standby holds");
        }
        decoder.decode(index, encoding, data, baseVersion, sourceIndex, this, scratch);
        return encoding;
    }

    /** Every record of the batch was decoded: CHECKSUM_MISMATCH unless their pages fold to {@code pagesCheck}. */
    void endBatch(long pagesCheck) throws CorruptPageException {
        decoder.endBatch(pagesCheck);
    }

    StreamDecoder decoder() {
        return decoder;
    }

    /** The page the last {@link #decode} produced. */
    MemorySegment scratch() {
        return scratch;
    }

    /** Bytes of changed runs in the last DELTA decoded: how much the page changed since the version held. */
    int lastDeltaRunBytes() {
        return decoder.lastDeltaRunBytes();
    }

    /** The pages of {@code epoch} are committed: each now has that version. */
    void committed(SparseBits pages, long epoch) {
        for (long page = pages.nextSetBit(0); page >= 0; page = pages.nextSetBit(page + 1)) {
            // A whole leaf written in this epoch (a full checkpoint writes them all) is one value: no array.
            if ((page & (SparseLongs.LEAF - 1)) == 0 && page + SparseLongs.LEAF <= versions.size()
                    && pages.allSet(page, SparseLongs.LEAF)) {
                versions.fillLeaf((int) (page >>> SparseLongs.LEAF_SHIFT), epoch);
                page += SparseLongs.LEAF - 1;
            } else {
                versions.set(page, epoch);
            }
        }
    }

    /** From now on, deltas are accepted only against versions this collector sees written after the committed epoch. */
    void forgetVersions() {
        versions.clear();
        versionsKnownAfter = store.manifest().committedEpoch();
    }

    long versionsKnownAfter() {
        return versionsKnownAfter;
    }

    /** What DELTA and DUPLICATE records refer to: the committed image (a checkpoint applies only at commit). */
    @Override
    public MemorySegment page(long index) {
        return index >= 0 && index < versions.size() ? store.page(index) : null;
    }

    @Override
    public long version(long index) {
        return index >= 0 && index < versions.size() ? versions.get(index) : 0;
    }
}
