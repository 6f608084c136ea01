package io.cpstream.collector.store;

import io.cpstream.snapshot.CommittedOutputs;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * The redo log of the checkpoint being staged. Pages are appended as they arrive; a commit record
 * seals the epoch; only then are the pages copied into the image. Replaying a sealed journal is
 * idempotent, so a crash at any point leaves either the old epoch (no seal) or the new one (replay).
 *
 * <p>Layout, little-endian: header {magic, epoch, base, flags, stun time}, then records:
 * {@code 'P' u32 page, page bytes} · {@code 'D' u32 length, bytes} · {@code 'O' u32 length, committed
 * outputs as {@link CommittedOutputs#encode()}} · {@code 'H' u32 length, the primary's image SHA-256} ·
 * {@code 'C' u64 epoch, u64 pages,
 * u32 crc32c of every byte before this record}.
 */
final class Journal implements AutoCloseable {

    static final long MAGIC = 0x31304C4E524A5043L; // "CPJRNL01"
    private static final int HEADER_BYTES = 8 + 8 + 8 + 4 + 8;
    private static final byte PAGE = 'P';
    private static final byte DEVICE = 'D';
    private static final byte OUTPUTS = 'O';
    private static final byte PRIMARY_DIGEST = 'H';
    private static final byte COMMIT = 'C';
    private static final int BUFFER_BYTES = 1 << 20;

    private final FileChannel channel;
    private final int pageSize;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    /** The whole of {@link #buffer}, for copying pages in at absolute offsets. */
    private final MemorySegment bufferSegment = MemorySegment.ofBuffer(buffer);
    /**
     * The read window, kept across reads: every commit reads the journal back twice (check the seal, then
     * apply), and a fresh 1 MiB direct buffer each time is zeroed and freed hundreds of times a second.
     */
    private final ByteBuffer readWindow = ByteBuffer.allocateDirect(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final CRC32C crc = new CRC32C();

    Journal(Path file, int pageSize) throws IOException {
        this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        this.pageSize = pageSize;
    }

    /** Starts a new epoch, discarding whatever the journal held. */
    void begin(long epoch, long base, boolean full, long stunUnixMicros) throws IOException {
        channel.truncate(0);
        channel.position(0);
        buffer.clear();
        crc.reset();
        buffer.putLong(MAGIC).putLong(epoch).putLong(base).putInt(full ? 1 : 0).putLong(stunUnixMicros);
    }

    void appendPage(int page, MemorySegment content) throws IOException {
        ensureRoom(1 + 4 + pageSize);
        buffer.put(PAGE).putInt(page);
        MemorySegment.copy(content, 0, bufferSegment, buffer.position(), pageSize);
        buffer.position(buffer.position() + pageSize);
    }

    void appendDeviceState(byte[] state) throws IOException {
        appendBlob(DEVICE, state);
    }

    void appendOutputs(CommittedOutputs outputs) throws IOException {
        appendBlob(OUTPUTS, outputs.encode());
    }

    void appendPrimaryDigest(byte[] sha256) throws IOException {
        appendBlob(PRIMARY_DIGEST, sha256);
    }

    private void appendBlob(byte type, byte[] state) throws IOException {
        ensureRoom(1 + 4);
        buffer.put(type).putInt(state.length);
        for (int offset = 0; offset < state.length; ) {
            ensureRoom(1);
            int chunk = Math.min(buffer.remaining(), state.length - offset);
            buffer.put(state, offset, chunk);
            offset += chunk;
        }
    }

    /** Seals the epoch and writes everything out; with {@code force}, to stable storage. */
    void seal(long epoch, long pages, boolean force) throws IOException {
        ensureRoom(1 + 8 + 8 + 4);
        drain();
        buffer.put(COMMIT).putLong(epoch).putLong(pages).putInt((int) crc.getValue());
        drain();
        if (force) {
            channel.force(false);
        }
    }

    private void ensureRoom(int bytes) throws IOException {
        if (buffer.remaining() < bytes) {
            drain();
        }
    }

    private void drain() throws IOException {
        buffer.flip();
        crc.update(buffer.duplicate());
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
        buffer.clear();
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    /** What a sealed journal holds, handed page by page to whoever applies it. */
    interface Visitor {
        void page(int page, MemorySegment content) throws IOException;

        void deviceState(byte[] state) throws IOException;

        void outputs(CommittedOutputs outputs) throws IOException;

        void primaryDigest(byte[] sha256) throws IOException;
    }

    /** The header of a sealed journal. */
    record Sealed(long epoch, long base, boolean full, long stunUnixMicros, long pages) {
    }

    /**
     * Reads the journal from the start. Returns the sealed epoch after passing every record to
     * {@code visitor}, or null when the journal is empty, torn or unsealed (then nothing was visited
     * if {@code visitor} is null; callers first check, then replay).
     */
    Sealed read(Visitor visitor) throws IOException {
        long size = channel.size();
        if (size < HEADER_BYTES) {
            return null;
        }
        Reader in = new Reader(channel, size, readWindow);
        if (in.getLong() != MAGIC) {
            return null;
        }
        long epoch = in.getLong();
        long base = in.getLong();
        boolean full = in.getInt() != 0;
        long stun = in.getLong();
        MemorySegment page = MemorySegment.ofArray(new byte[pageSize]);
        long pages = 0;
        while (in.remaining() > 0) {
            int crcBeforeRecord = in.crc();
            byte type = in.get();
            switch (type) {
                case PAGE -> {
                    if (in.remaining() < 4 + pageSize) {
                        return null;
                    }
                    int index = in.getInt();
                    in.get(page);
                    pages++;
                    if (visitor != null) {
                        visitor.page(index, page);
                    }
                }
                case DEVICE, OUTPUTS, PRIMARY_DIGEST -> {
                    if (in.remaining() < 4) {
                        return null;
                    }
                    int length = in.getInt();
                    if (length < 0 || length > in.remaining()) {
                        return null;
                    }
                    byte[] blob = new byte[length];
                    in.get(MemorySegment.ofArray(blob));
                    if (visitor != null) {
                        switch (type) {
                            case DEVICE -> visitor.deviceState(blob);
                            case OUTPUTS -> visitor.outputs(CommittedOutputs.decode(blob));
                            default -> visitor.primaryDigest(blob);
                        }
                    }
                }
                case COMMIT -> {
                    if (in.remaining() < 8 + 8 + 4) {
                        return null;
                    }
                    long sealedEpoch = in.getLong();
                    long sealedPages = in.getLong();
                    int recordedCrc = in.getInt();
                    if (sealedEpoch != epoch || sealedPages != pages || recordedCrc != crcBeforeRecord) {
                        return null;
                    }
                    return new Sealed(epoch, base, full, stun, pages);
                }
                default -> {
                    return null;
                }
            }
        }
        return null;
    }

    /** Sequential reader over the journal file that keeps the CRC-32C of every byte consumed. */
    private static final class Reader {
        private final FileChannel channel;
        private final long size;
        private final ByteBuffer window;
        private final CRC32C crc = new CRC32C();
        private long windowStart;

        Reader(FileChannel channel, long size, ByteBuffer window) {
            this.channel = channel;
            this.size = size;
            this.window = window;
            window.clear().limit(0);
        }

        long remaining() {
            return size - (windowStart + window.position());
        }

        int crc() {
            return (int) crc.getValue();
        }

        byte get() throws IOException {
            return consume(1).get();
        }

        int getInt() throws IOException {
            return consume(4).getInt();
        }

        long getLong() throws IOException {
            return consume(8).getLong();
        }

        void get(MemorySegment dst) throws IOException {
            long copied = 0;
            while (copied < dst.byteSize()) {
                int chunk = (int) Math.min(BUFFER_BYTES, dst.byteSize() - copied);
                ByteBuffer bytes = consume(chunk);
                MemorySegment.copy(MemorySegment.ofBuffer(bytes), 0, dst, copied, chunk);
                copied += chunk;
            }
        }

        /** The next {@code bytes} bytes as a little-endian view, folded into the CRC. */
        private ByteBuffer consume(int bytes) throws IOException {
            if (window.remaining() < bytes) {
                windowStart += window.position();
                window.compact();
                while (window.position() < bytes) {
                    if (channel.read(window, windowStart + window.position()) < 0) {
                        throw new IOException("journal ends inside a record");
                    }
                }
                window.flip();
            }
            ByteBuffer view = window.slice(window.position(), bytes).order(ByteOrder.LITTLE_ENDIAN);
            window.position(window.position() + bytes);
            crc.update(view.duplicate());
            return view;
        }
    }
}
