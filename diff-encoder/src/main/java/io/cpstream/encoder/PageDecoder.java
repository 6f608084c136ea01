package io.cpstream.encoder;

import io.cpstream.encoder.CorruptPageException.Reason;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * Rebuilds a page from its record into a scratch page and verifies its checksum before anyone may
 * apply it. Never writes outside {@code dst}; never trusts a length from the wire; never touches the
 * receiver's copies it reads from, so a rejected record leaves committed state as it was (invariant I5).
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
     * @throws CorruptPageException when the record is malformed, produces the wrong page, or is a DELTA or
     *                              DUPLICATE (use the overload that takes the receiver's pages)
     */
    public void decode(PageEncoding encoding, ByteBuffer payload, int expectedCrc, MemorySegment dst)
            throws CorruptPageException {
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
            case DELTA, DUPLICATE -> throw new CorruptPageException(
                    encoding + " record needs the receiver's copy of the page it refers to");
        }
        verify(dst, expectedCrc);
    }

    /**
     * Decodes any record, looking up what DELTA and DUPLICATE records refer to in {@code receiver}.
     *
     * @param pageIndex   the page this record rebuilds
     * @param baseVersion DELTA: the version of the receiver's copy the delta was made against
     * @param sourceIndex DUPLICATE: the page whose content this one repeats
     */
    public void decode(long pageIndex, PageEncoding encoding, ByteBuffer payload, int expectedCrc, long baseVersion,
            long sourceIndex, ReceiverPages receiver, MemorySegment dst) throws CorruptPageException {
        lastDeltaRunBytes = -1;
        switch (encoding) {
            case DELTA -> {
                MemorySegment held = receiver.page(pageIndex);
                if (held == null) {
                    throw new CorruptPageException(Reason.BASE_NOT_HELD,
                            "delta for page " + pageIndex + ", which the receiver does not hold");
                }
                decodeDelta(payload, expectedCrc, baseVersion, held, receiver.version(pageIndex), dst);
            }
            case DUPLICATE -> {
                MemorySegment source = receiver.page(sourceIndex);
                if (source == null) {
                    throw new CorruptPageException(Reason.BASE_NOT_HELD, "page " + pageIndex + " duplicates page " + sourceIndex
                            + ", which the receiver does not hold");
                }
                decodeDuplicate(payload, expectedCrc, source, dst);
            }
            default -> decode(encoding, payload, expectedCrc, dst);
        }
    }

    /** Convenience for an {@link EncodedPage} (tests, the comparison runner, an in-process agent). */
    public void decode(long pageIndex, EncodedPage record, ReceiverPages receiver, MemorySegment dst)
            throws CorruptPageException {
        decode(pageIndex, record.encoding(), record.payload(), record.crc32c(), record.baseVersion(),
                record.sourceIndex(), receiver, dst);
    }

    /**
     * Decodes a DELTA against the receiver's copy {@code held}.
     *
     * @param baseVersion the version the sender made the delta against
     * @param held        the receiver's current copy of the page; read, never written
     * @param heldVersion the version of {@code held}, or 0 (or less) when unknown; a delta against any other
     *                    version, or against an unknown one, is refused
     * @param dst         scratch page for the result; must not overlap {@code held}
     */
    public void decodeDelta(ByteBuffer payload, int expectedCrc, long baseVersion, MemorySegment held, long heldVersion,
            MemorySegment dst) throws CorruptPageException {
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
        if (length < 1) {
            throw new CorruptPageException("delta: empty payload, no format byte");
        }
        byte[] runs;
        MemorySegment runsSegment;
        int runsFrom;
        int runsTo;
        switch (payloadBytes[0]) {
            case DeltaFormat.PLAIN -> {
                runs = payloadBytes;
                runsSegment = payloadSegment;
                runsFrom = 1;
                runsTo = length;
            }
            case DeltaFormat.LZ4 -> {
                cursor.position = 1;
                int rawLength = Varints.read(payloadBytes, cursor, length, "delta length");
                if (rawLength > pageSize) {
                    throw new CorruptPageException("delta: " + rawLength + " bytes of runs, more than a page");
                }
                Lz4Pages.decompressExactly(payloadBytes, cursor.position, length - cursor.position, inflated, rawLength,
                        "delta");
                runs = inflated;
                runsSegment = inflatedSegment;
                runsFrom = 0;
                runsTo = rawLength;
            }
            default -> throw new CorruptPageException("delta: unknown format byte " + payloadBytes[0]);
        }
        MemorySegment.copy(held, 0, dst, 0, pageSize);
        DeltaRunReader.applyRuns(runs, runsSegment, runsFrom, runsTo, dst, pageSize, cursor);
        verify(dst, expectedCrc);
        lastDeltaRunBytes = runsTo - runsFrom;
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
        checkDestination(dst);
        if (payload.hasRemaining()) {
            throw new CorruptPageException("duplicate page carries " + payload.remaining() + " payload bytes");
        }
        if (source.byteSize() != pageSize) {
            throw new IllegalArgumentException("source is " + source.byteSize() + " bytes, page is " + pageSize);
        }
        MemorySegment.copy(source, 0, dst, 0, pageSize);
        verify(dst, expectedCrc);
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

    private void verify(MemorySegment dst, int expectedCrc) throws CorruptPageException {
        crc.reset();
        crc.update(dst.asByteBuffer());
        int actual = (int) crc.getValue();
        if (actual != expectedCrc) {
            throw new CorruptPageException(Reason.CHECKSUM_MISMATCH, String.format(
                    "checksum mismatch: page decodes to crc32c %08x, record says %08x", actual, expectedCrc));
        }
    }
}
