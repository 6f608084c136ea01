package io.cpstream.encoder;

import io.cpstream.encoder.CorruptPageException.Reason;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * Rebuilds a page from its record into a scratch page and computes its CRC-32C, which is checked (against the
 * record's own, or folded into the {@link PageBatchCheck} of its batch) before anyone may apply it (invariant I4).
 * Never writes outside {@code dst}; never trusts a length from the wire; never touches the receiver's copies it reads
 * from, so a rejected record leaves committed state as it was (invariant I5).
 *
 * <p>Allocation-aware: parse buffers are allocated once. Not thread-safe: one decoder per thread.
 */
public final class PageDecoder {

    private final int pageSize;
    private final CRC32C crc = new CRC32C();
    private final Varints.Cursor cursor = new Varints.Cursor();
    /** The payload, copied off the wire buffer (at most a page: no encoding that pays is larger). */
    private final byte[] payloadBytes;
    private final MemorySegment payloadSegment;
    /** LZ4 output: a whole page, or the runs of a compressed delta. */
    private final byte[] inflated;
    private final MemorySegment inflatedSegment;
    /** Bytes of runs of the last DELTA decoded, or -1 when the last record decoded was not a DELTA. */
    private int lastDeltaRunBytes = -1;

    public PageDecoder(int pageSize) {
        if (pageSize < 16 || pageSize > 1 << 16) {
            throw new IllegalArgumentException("unsupported page size " + pageSize);
        }
        this.pageSize = pageSize;
        payloadBytes = new byte[pageSize];
        payloadSegment = MemorySegment.ofArray(payloadBytes);
        inflated = new byte[pageSize];
        inflatedSegment = MemorySegment.ofArray(inflated);
    }

    /**
     * Decodes a record that needs no receiver context (ZERO, FULL, LZ4) into {@code dst} (exactly one page
     * long) and checks the result against {@code expectedCrc}.
     *
     * @throws CorruptPageException when the record is malformed, produces the wrong page, or depends on the
     *                              receiver (use the overload that takes the receiver's pages)
     */
    public void decode(PageEncoding encoding, ByteBuffer payload, int expectedCrc, MemorySegment dst)
            throws CorruptPageException {
        verify(rebuild(encoding, payload, dst), expectedCrc);
    }

    /**
     * Rebuilds the page of a record that needs no receiver context (ZERO, FULL, LZ4) into {@code dst} and returns its
     * CRC-32C, which the caller must check (per record, or folded into a {@link PageBatchCheck}) before the page
     * may be applied.
     */
    public int rebuild(PageEncoding encoding, ByteBuffer payload, MemorySegment dst) throws CorruptPageException {
        checkDestination(dst);
        lastDeltaRunBytes = -1;
        switch (encoding) {
            case ZERO -> {
                if (payload.hasRemaining()) {
                    throw new CorruptPageException("zero page carries " + payload.remaining() + " payload bytes");
                }
                dst.fill((byte) 0);
            }
            case FULL -> {
                if (payload.remaining() != pageSize) {
                    throw new CorruptPageException("full page carries " + payload.remaining() + " bytes, expected "
                            + pageSize);
                }
                MemorySegment.copy(MemorySegment.ofBuffer(payload), 0, dst, 0, pageSize);
            }
            case LZ4 -> {
                int length = copyPayload(payload, "LZ4 page");
                Lz4Pages.decompressExactly(payloadBytes, 0, length, inflated, pageSize, "LZ4 page");
                MemorySegment.copy(inflatedSegment, 0, dst, 0, pageSize);
            }
            case DELTA, DELTA_LZ4, DUPLICATE -> throw new CorruptPageException(
                    encoding + " record needs the receiver's copy of the page it refers to");
        }
        return crc32c(dst);
    }

    /**
     * Decodes any record, looking up what DELTA and DUPLICATE records refer to in {@code receiver}, and checks the
     * page against {@code expectedCrc}.
     *
     * @param pageIndex   the page this record rebuilds
     * @param baseVersion DELTA: the version of the receiver's copy the delta was made against
     * @param sourceIndex DUPLICATE: the page whose content this one repeats
     */
    public void decode(long pageIndex, PageEncoding encoding, ByteBuffer payload, int expectedCrc, long baseVersion,
            long sourceIndex, ReceiverPages receiver, MemorySegment dst) throws CorruptPageException {
        checked(rebuild(pageIndex, encoding, payload, baseVersion, sourceIndex, receiver, dst), expectedCrc);
    }

    /**
     * Rebuilds any record into {@code dst}, looking up what DELTA, DELTA_LZ4 and DUPLICATE records refer to in
     * {@code receiver}, and returns the page's CRC-32C, which the caller must check before the page may be applied.
     *
     * @throws CorruptPageException MALFORMED or BASE_NOT_HELD; {@code dst} is then garbage
     */
    public int rebuild(long pageIndex, PageEncoding encoding, ByteBuffer payload, long baseVersion, long sourceIndex,
            ReceiverPages receiver, MemorySegment dst) throws CorruptPageException {
        lastDeltaRunBytes = -1;
        switch (encoding) {
            case DELTA, DELTA_LZ4 -> {
                MemorySegment held = receiver.page(pageIndex);
                if (held == null) {
                    throw new CorruptPageException(Reason.BASE_NOT_HELD,
                            "delta for page " + pageIndex + ", which the receiver does not hold");
                }
                return rebuildDelta(encoding, payload, baseVersion, held, receiver.version(pageIndex), dst);
            }
            case DUPLICATE -> {
                MemorySegment source = receiver.page(sourceIndex);
                if (source == null) {
                    throw new CorruptPageException(Reason.BASE_NOT_HELD, "page " + pageIndex + " duplicates page "
                            + sourceIndex + ", which the receiver does not hold");
                }
                return rebuildDuplicate(payload, source, dst);
            }
            default -> {
                return rebuild(encoding, payload, dst);
            }
        }
    }

    /** Convenience for an {@link EncodedPage} (tests, the comparison runner, an in-process agent). */
    public void decode(long pageIndex, EncodedPage record, ReceiverPages receiver, MemorySegment dst)
            throws CorruptPageException {
        decode(pageIndex, record.encoding(), record.payload(), record.crc32c(), record.baseVersion(),
                record.sourceIndex(), receiver, dst);
    }

    /** Decodes a plain DELTA (its runs) against the receiver's copy {@code held} and checks it: see {@link #rebuildDelta}. */
    public void decodeDelta(ByteBuffer payload, int expectedCrc, long baseVersion, MemorySegment held, long heldVersion,
            MemorySegment dst) throws CorruptPageException {
        checked(rebuildDelta(PageEncoding.DELTA, payload, baseVersion, held, heldVersion, dst), expectedCrc);
    }

    /**
     * Rebuilds a DELTA or DELTA_LZ4 against the receiver's copy {@code held} and returns the page's CRC-32C.
     *
     * @param baseVersion the version the sender made the delta against
     * @param held        the receiver's current copy of the page; read, never written
     * @param heldVersion the version of {@code held}, or 0 (or less) when unknown; a delta against any other
     *                    version, or against an unknown one, is refused
     * @param dst         scratch page for the result; must not overlap {@code held}
     */
    public int rebuildDelta(PageEncoding encoding, ByteBuffer payload, long baseVersion, MemorySegment held,
            long heldVersion, MemorySegment dst) throws CorruptPageException {
        checkDestination(dst);
        lastDeltaRunBytes = -1;
        if (held.byteSize() != pageSize) {
            throw new IllegalArgumentException("held copy is " + held.byteSize() + " bytes, page is " + pageSize);
        }
        if (dst.asOverlappingSlice(held).isPresent()) {
            throw new IllegalArgumentException("delta destination overlaps the held copy; decode into scratch");
        }
        if (heldVersion <= 0) {
            throw new CorruptPageException(Reason.BASE_NOT_HELD, "delta against version " + baseVersion
                    + ", but the receiver does not know which version of the page it holds");
        }
        if (baseVersion != heldVersion) {
            throw new CorruptPageException(Reason.BASE_NOT_HELD,
                    "delta against version " + baseVersion + ", but the receiver holds version "
                    + heldVersion);
        }
        int length = copyPayload(payload, "delta");
        byte[] runs;
        MemorySegment runsSegment;
        int runsTo;
        switch (encoding) {
            case DELTA -> {
                runs = payloadBytes;
                runsSegment = payloadSegment;
                runsTo = length;
            }
            case DELTA_LZ4 -> {
                cursor.position = 0;
                int rawLength = Varints.read(payloadBytes, cursor, length, "delta length");
                if (rawLength > pageSize) {
                    throw new CorruptPageException("delta: " + rawLength + " bytes of runs, more than a page");
                }
                Lz4Pages.decompressExactly(payloadBytes, cursor.position, length - cursor.position, inflated, rawLength,
                        "delta");
                runs = inflated;
                runsSegment = inflatedSegment;
                runsTo = rawLength;
            }
            default -> throw new IllegalArgumentException(encoding + " is no delta");
        }
        MemorySegment.copy(held, 0, dst, 0, pageSize);
        DeltaRunReader.applyRuns(runs, runsSegment, 0, runsTo, dst, pageSize, cursor);
        int crc = crc32c(dst);
        lastDeltaRunBytes = runsTo;
        return crc;
    }

    /**
     * Bytes of runs (before any LZ4) of the DELTA the last {@code decode} rebuilt, or -1 when that record was not a
     * DELTA (or failed): what {@link DeltaCandidateClassifier#classifyDelta} needs to judge the page without
     * comparing it again.
     */
    public int lastDeltaRunBytes() {
        return lastDeltaRunBytes;
    }

    /** Decodes a DUPLICATE: {@code dst} becomes a copy of {@code source}, which must match the record's CRC. */
    public void decodeDuplicate(ByteBuffer payload, int expectedCrc, MemorySegment source, MemorySegment dst)
            throws CorruptPageException {
        verify(rebuildDuplicate(payload, source, dst), expectedCrc);
    }

    private int rebuildDuplicate(ByteBuffer payload, MemorySegment source, MemorySegment dst)
            throws CorruptPageException {
        checkDestination(dst);
        if (payload.hasRemaining()) {
            throw new CorruptPageException("duplicate page carries " + payload.remaining() + " payload bytes");
        }
        if (source.byteSize() != pageSize) {
            throw new IllegalArgumentException("source is " + source.byteSize() + " bytes, page is " + pageSize);
        }
        MemorySegment.copy(source, 0, dst, 0, pageSize);
        return crc32c(dst);
    }

    private int copyPayload(ByteBuffer payload, String what) throws CorruptPageException {
        int length = payload.remaining();
        if (length > pageSize) {
            throw new CorruptPageException(what + ": payload of " + length + " bytes is larger than a page ("
                    + pageSize + ")");
        }
        payload.get(payload.position(), payloadBytes, 0, length);
        return length;
    }

    private void checkDestination(MemorySegment dst) {
        if (dst.byteSize() != pageSize) {
            throw new IllegalArgumentException("destination is " + dst.byteSize() + " bytes, page is " + pageSize);
        }
    }

    private int crc32c(MemorySegment page) {
        crc.reset();
        crc.update(page.asByteBuffer());
        return (int) crc.getValue();
    }

    /** Checks a page just rebuilt; one that fails was no DELTA anyone may judge ({@link #lastDeltaRunBytes}). */
    private void checked(int actual, int expected) throws CorruptPageException {
        if (actual != expected) {
            lastDeltaRunBytes = -1;
            verify(actual, expected);
        }
    }

    private static void verify(int actual, int expectedCrc) throws CorruptPageException {
        if (actual != expectedCrc) {
            throw new CorruptPageException(Reason.CHECKSUM_MISMATCH, String.format(
                    "checksum mismatch: page decodes to crc32c %08x, record says %08x", actual, expectedCrc));
        }
    }
}
