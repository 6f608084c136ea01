package io.cpstream.tracker.trace;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Map;
import net.jpountz.lz4.LZ4FrameOutputStream;

/**
 * Writes a trace: the header, then one record per epoch into an LZ4 frame, then the end record on
 * {@link #close()}. Each epoch is flushed as it is written, so a recording cut short still replays up
 * to its last complete epoch.
 */
public final class TraceWriter implements AutoCloseable {

    private final int pageSize;
    private final int pageCount;
    private final OutputStream file;
    private final DataOutputStream out;
    private final byte[] pageBuffer;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment zeroPage;
    private long epochs;
    private boolean closed;

    public TraceWriter(Path path, int pageSize, int pageCount, Map<String, String> metadata) throws IOException {
        this.pageSize = pageSize;
        this.pageCount = pageCount;
        this.pageBuffer = new byte[pageSize];
        this.zeroPage = arena.allocate(pageSize);
        this.file = new BufferedOutputStream(Files.newOutputStream(path), 1 << 16);
        DataOutputStream header = new DataOutputStream(file);
        header.write(TraceFormat.MAGIC);
        header.writeInt(TraceFormat.VERSION);
        header.writeInt(pageSize);
        header.writeInt(pageCount);
        header.writeInt(metadata.size());
        for (Map.Entry<String, String> entry : metadata.entrySet()) {
            header.writeUTF(entry.getKey());
            header.writeUTF(entry.getValue());
        }
        header.flush();
        this.out = new DataOutputStream(new LZ4FrameOutputStream(file, LZ4FrameOutputStream.BLOCKSIZE.SIZE_4MB,
                LZ4FrameOutputStream.FLG.Bits.BLOCK_INDEPENDENCE, LZ4FrameOutputStream.FLG.Bits.BLOCK_CHECKSUM,
                LZ4FrameOutputStream.FLG.Bits.CONTENT_CHECKSUM));
    }

    /**
     * Appends the next epoch. {@code image} is the whole image after the epoch, from which the dirty
     * pages' contents are taken; {@code digest} is its SHA-256.
     */
    public void writeEpoch(long offsetNanos, long unixMicros, long stopNanos, long pauseNanos, byte[] deviceState,
                           BitSet dirty, MemorySegment image, byte[] digest) throws IOException {
        if (dirty.length() > pageCount) {
            throw new IllegalArgumentException("dirty page " + (dirty.length() - 1) + " is beyond " + pageCount + " pages");
        }
        if (digest.length != TraceFormat.DIGEST_BYTES) {
            throw new IllegalArgumentException("a digest has " + TraceFormat.DIGEST_BYTES + " bytes");
        }
        out.writeByte(TraceFormat.EPOCH_TAG);
        out.writeLong(++epochs);
        out.writeLong(offsetNanos);
        out.writeLong(unixMicros);
        out.writeLong(stopNanos);
        out.writeLong(pauseNanos);
        out.writeInt(deviceState.length);
        out.write(deviceState);
        writeRuns(dirty);
        BitSet zero = new BitSet(pageCount);
        for (int page = dirty.nextSetBit(0); page >= 0; page = dirty.nextSetBit(page + 1)) {
            boolean isZero = isZero(image, page);
            zero.set(page, isZero);
            out.writeByte(isZero ? TraceFormat.PAGE_ZERO : TraceFormat.PAGE_DATA);
        }
        for (int page = dirty.nextSetBit(0); page >= 0; page = dirty.nextSetBit(page + 1)) {
            if (!zero.get(page)) {
                MemorySegment.copy(image, ValueLayout.JAVA_BYTE, (long) page * pageSize, pageBuffer, 0, pageSize);
                out.write(pageBuffer);
            }
        }
        out.write(digest);
        out.flush();
    }

    public long epochs() {
        return epochs;
    }

    /** Writes the end record and closes the file. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try (arena; out) {
            out.writeByte(TraceFormat.END_TAG);
            out.writeLong(epochs);
        }
    }

    /** The dirty set as ascending runs: count, then (first page, length) each. */
    private void writeRuns(BitSet dirty) throws IOException {
        int runs = 0;
        for (int start = dirty.nextSetBit(0); start >= 0; start = dirty.nextSetBit(dirty.nextClearBit(start))) {
            runs++;
        }
        out.writeInt(runs);
        for (int start = dirty.nextSetBit(0); start >= 0; ) {
            int end = dirty.nextClearBit(start);
            out.writeInt(start);
            out.writeInt(end - start);
            start = dirty.nextSetBit(end);
        }
    }

    private boolean isZero(MemorySegment image, int page) {
        return MemorySegment.mismatch(image, (long) page * pageSize, (long) (page + 1) * pageSize, zeroPage, 0,
                pageSize) < 0;
    }
}
