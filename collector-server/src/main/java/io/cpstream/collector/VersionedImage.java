package io.cpstream.collector;

import io.cpstream.collector.store.ImageStore;
import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.encoder.ReceiverPages;
import io.cpstream.encoder.StreamDecoder;
import java.nio.ByteBuffer;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.BitSet;

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
    private final long[] versions;
    /** diff-encoder's receiver half: decoding, and the verdicts the {@link DeltaAdvisor} sends back. */
    private final StreamDecoder decoder;
    private final MemorySegment scratch;
    private long versionsKnownAfter;

    VersionedImage(ImageStore store) {
        this.store = store;
        this.pageSize = store.manifest().pageSize();
        this.versions = new long[Math.toIntExact(store.manifest().pageCount())];
        this.decoder = new StreamDecoder(pageSize, versions.length);
        this.scratch = MemorySegment.ofArray(new byte[pageSize]);
        this.versionsKnownAfter = store.manifest().committedEpoch();
    }

    long pageCount() {
        return versions.length;
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
    void committed(BitSet pages, long epoch) {
        for (int page = pages.nextSetBit(0); page >= 0; page = pages.nextSetBit(page + 1)) {
            versions[page] = epoch;
        }
    }

    /** From now on, deltas are accepted only against versions this collector sees written after the committed epoch. */
    void forgetVersions() {
        Arrays.fill(versions, 0);
        versionsKnownAfter = store.manifest().committedEpoch();
    }

    long versionsKnownAfter() {
        return versionsKnownAfter;
    }

    /** What DELTA and DUPLICATE records refer to: the committed image (a checkpoint applies only at commit). */
    @Override
    public MemorySegment page(long index) {
        return index >= 0 && index < versions.length ? store.image().asSlice(index * pageSize, pageSize) : null;
    }

    @Override
    public long version(long index) {
        return index >= 0 && index < versions.length ? versions[(int) index] : 0;
    }
}
