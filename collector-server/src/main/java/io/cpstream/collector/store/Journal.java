package io.cpstream.collector.store;

import io.cpstream.snapshot.DurableFiles;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.zip.CRC32C;

/**
 * The redo log of the checkpoint being staged. Pages are appended as they arrive; a commit record seals the
 * epoch; only then are the pages copied into the image. Replaying a sealed journal is idempotent, so a crash
 * at any point leaves either the old epoch (no seal) or the new one (replay).
 *
 * <p>Layout, little-endian: header {magic, epoch, base, flags, stun time}, then records:
 * {@code 'P' u32 page, page bytes, u32 crc32c of the record} · {@code 'S' u32 length, a CommittedState} ·
 * {@code 'C' u64 epoch, u64 pages, u32 crc32c of every byte before this record}. Each page record carries its
 * own checksum so that the commit can read the journal back once, applying each page as it is verified; the
 * seal's checksum covers everything, for recovery, which verifies the whole journal before applying any of it.
 */
final class Journal implements AutoCloseable {

    static final long MAGIC = 0x32304C4E524A5043L; // "CPJRNL02"
    private static final int HEADER_BYTES = 8 + 8 + 8 + 4 + 8;
    private static final byte PAGE = 'P';
    private static final byte STATE = 'S';
    private static final byte COMMIT = 'C';
    private static final int SEAL_BYTES = 1 + 8 + 8 + 4;
    private static final int BUFFER_BYTES = JournalBuffers.BUFFER_BYTES;

    private final FileChannel channel;
    private final int pageSize;
    /** Where the write buffer and the read window come from: shared by every journal of the collector. */
    private final JournalBuffers pool;
    /** The write buffer, borrowed while a message's records are staged; null between messages. */
    private JournalBuffers.Buffer held;
    /** A write of staged bytes failed: what is in the file is not what the CRC covers, so this epoch must not seal. */
    private boolean broken;
    private final CRC32C crc = new CRC32C();
    private final CRC32C recordCrc = new CRC32C();
    private final MemorySegment page;

    Journal(Path file, int pageSize, JournalBuffers pool) throws IOException {
        this.pool = pool;
        this.channel = DurableFiles.openPrivate(file);
        this.pageSize = pageSize;
        this.page = MemorySegment.ofArray(new byte[pageSize]);
    }

    /**
     * Starts a new epoch, discarding whatever the journal held: its owner has applied or given up on it. The new epoch
     * is written over the old one's bytes rather than into an emptied file: on ext4 a truncate and the block
     * allocation of writing again cost about 55 µs per 100 KiB here, an overwrite in place 9 µs. The file is cut to
     * the new epoch's length at its seal. Until then the old bytes past what is written can only fail to verify as
     * this epoch's (their seal names another epoch, and the running CRC covers this epoch's header).
     */
    void begin(long epoch, long base, boolean full, long stunUnixMicros) throws IOException {
        ByteBuffer buffer = buffer().clear(); // first: a pool that has none to give leaves the journal as it was
        broken = false;
        channel.position(0);
        crc.reset();
        buffer.putLong(MAGIC).putLong(epoch).putLong(base).putInt(full ? 1 : 0).putLong(stunUnixMicros);
    }

    void appendPage(int index, MemorySegment content) throws IOException {
        ensureRoom(1 + 4 + pageSize + 4);
        ByteBuffer buffer = held.bytes();
        int start = buffer.position();
        buffer.put(PAGE).putInt(index);
        MemorySegment.copy(content, 0, held.segment(), buffer.position(), pageSize);
        buffer.position(buffer.position() + pageSize);
        recordCrc.reset();
        recordCrc.update(buffer.slice(start, 1 + 4 + pageSize));
        buffer.putInt((int) recordCrc.getValue());
    }

    void appendState(CommittedState state) throws IOException {
        byte[] bytes = state.encode();
        ensureRoom(1 + 4);
        held.bytes().put(STATE).putInt(bytes.length);
        for (int offset = 0; offset < bytes.length; ) {
            ensureRoom(1);
            ByteBuffer buffer = held.bytes();
            int chunk = Math.min(buffer.remaining(), bytes.length - offset);
            buffer.put(bytes, offset, chunk);
            offset += chunk;
        }
    }

    /** Seals the epoch and writes everything out; with {@code force}, to stable storage. */
    void seal(long epoch, long pages, boolean force) throws IOException {
        try {
            drain();
            if (broken) {
                throw new IOException("a write of this epoch's journal failed before; it cannot be sealed");
            }
            held.bytes().put(COMMIT).putLong(epoch).putLong(pages).putInt((int) crc.getValue());
            drain();
            // The seal must end the file: a reader takes bytes past it for a torn journal. Before the force, so that
            // what is forced is this epoch's journal exactly.
            if (channel.size() > channel.position()) {
                channel.truncate(channel.position());
            }
        } finally {
            discard();
        }
        if (force) {
            channel.force(false);
        }
    }

    /**
     * Writes what is staged to the file and gives the buffer back to the pool: called between messages, so that no
     * buffer is held while the stream waits on its agent. A failed write is remembered: the epoch cannot seal.
     */
    void yieldBuffer() {
        if (held == null) {
            return;
        }
        try {
            drain();
        } catch (IOException e) {
            broken = true;
        } finally {
            discard();
        }
    }

    /** Gives the buffer back without writing it (the staged epoch is dropped). */
    void discard() {
        if (held != null) {
            JournalBuffers.Buffer buffer = held;
            held = null;
            pool.release(buffer);
        }
    }

    /** The write buffer, borrowed from the pool if none is held. */
    private ByteBuffer buffer() throws IOException {
        if (held == null) {
            held = pool.borrow();
        }
        return held.bytes();
    }

    private void ensureRoom(int bytes) throws IOException {
        if (buffer().remaining() < bytes) {
            drain();
        }
    }

    private void drain() throws IOException {
        ByteBuffer buffer = buffer();
        buffer.flip();
        crc.update(buffer.duplicate());
        try {
            DurableFiles.writeFully(channel, buffer);
        } catch (IOException e) {
            broken = true;
            throw e;
        } finally {
            buffer.clear();
        }
    }

    @Override
    public void close() throws IOException {
        discard();
        channel.close();
    }

    /** What a sealed journal holds, record by record, to whoever applies it. */
    interface Visitor {
        void page(int index, MemorySegment content) throws IOException;

        void state(CommittedState state) throws IOException;
    }

    /** The header of a journal. */
    record Header(long epoch, long base, boolean full, long stunUnixMicros) {
    }

    /** What reading a journal found. */
    enum Found {
        /** Nothing, or nothing whole: an epoch was being staged and never sealed; the image was not touched. */
        UNSEALED,
        /** A sealed epoch whose every byte verifies. */
        SEALED,
        /**
         * A seal record for the journal's epoch, but bytes that do not verify: the epoch was sealed, so its apply
         * may have begun, and the journal cannot finish it. The image may hold a mix.
         */
        CORRUPT
    }

    record Scan(Found found, Header header) {
    }

    /**
     * Reads the whole journal, checking every record, and passes each page and state record to {@code visitor}
     * (null: only check). A visitor sees records before the seal is known to verify: recovery checks first and
     * replays second; a live commit, which wrote these bytes itself a moment ago, reads once and applies as it goes.
     */
    Scan read(Visitor visitor) throws IOException {
        long size = channel.size();
        if (size < HEADER_BYTES) {
            return new Scan(Found.UNSEALED, null);
        }
        JournalBuffers.Buffer window = pool.borrow();
        try {
            return read(visitor, size, new Reader(channel, size, window.bytes()));
        } finally {
            pool.release(window);
        }
    }

    private Scan read(Visitor visitor, long size, Reader in) throws IOException {
        if (in.getLong() != MAGIC) {
            return new Scan(Found.UNSEALED, null);
        }
        Header header = new Header(in.getLong(), in.getLong(), in.getInt() != 0, in.getLong());
        Found broken = sealPresent(size, header.epoch()) ? Found.CORRUPT : Found.UNSEALED;
        long pages = 0;
        while (in.remaining() > 0) {
            int crcBeforeRecord = in.crc();
            byte type = in.get();
            switch (type) {
                case PAGE -> {
                    if (in.remaining() < 4 + pageSize + 4) {
                        return new Scan(broken, header);
                    }
                    int index = in.getInt();
                    // The page's bytes where they were read to, unless the next read would move them: no copy.
                    ByteBuffer content = in.consume(pageSize);
                    if (!in.hasBuffered(4)) {
                        // Reading the checksum refills the window, which would overwrite the page under the view.
                        MemorySegment.copy(MemorySegment.ofBuffer(content), 0, page, 0, pageSize);
                        content = page.asByteBuffer();
                    }
                    int expected = in.getInt();
                    recordCrc.reset();
                    recordCrc.update(PAGE);
                    for (int shift = 0; shift < 32; shift += 8) {
                        recordCrc.update(index >>> shift);
                    }
                    recordCrc.update(content);
                    content.rewind();
                    if ((int) recordCrc.getValue() != expected) {
                        return new Scan(broken, header);
                    }
                    pages++;
                    if (visitor != null) {
                        visitor.page(index, MemorySegment.ofBuffer(content));
                    }
                }
                case STATE -> {
                    if (in.remaining() < 4) {
                        return new Scan(broken, header);
                    }
                    int length = in.getInt();
                    if (length < 0 || length > in.remaining()) {
                        return new Scan(broken, header);
                    }
                    byte[] blob = new byte[length];
                    in.get(MemorySegment.ofArray(blob));
                    CommittedState state;
                    try {
                        state = CommittedState.decode(blob, "the journal's state record");
                    } catch (IOException e) {
                        return new Scan(broken, header);
                    }
                    if (visitor != null) {
                        visitor.state(state);
                    }
                }
                case COMMIT -> {
                    if (in.remaining() < SEAL_BYTES - 1) {
                        return new Scan(broken, header);
                    }
                    long sealedEpoch = in.getLong();
                    long sealedPages = in.getLong();
                    int recordedCrc = in.getInt();
                    boolean whole = sealedEpoch == header.epoch() && sealedPages == pages
                            && recordedCrc == crcBeforeRecord && in.remaining() == 0;
                    return new Scan(whole ? Found.SEALED : broken, header);
                }
                default -> {
                    return new Scan(broken, header);
                }
            }
        }
        return new Scan(broken, header);
    }

    /** True when the journal ends with a seal record naming {@code epoch}, whether or not the rest verifies. */
    private boolean sealPresent(long size, long epoch) throws IOException {
        if (size < HEADER_BYTES + SEAL_BYTES) {
            return false;
        }
        ByteBuffer tail = ByteBuffer.allocate(SEAL_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        while (tail.hasRemaining()) {
            if (channel.read(tail, size - SEAL_BYTES + tail.position()) < 0) {
                return false;
            }
        }
        return tail.get(0) == COMMIT && tail.getLong(1) == epoch;
    }

    /**
     * Sequential reader over the journal file that keeps the CRC-32C of every byte consumed. It reads its fields in
     * place and allocates only a page's view: a view per field (and a copy of each for the CRC) made ten objects per
     * page read back, a tenth of what a bench's JVM allocated, and every ZGC cycle slows the next stun beside it.
     */
    private static final class Reader {
        private final FileChannel channel;
        private final long size;
        private final ByteBuffer window;
        /** The window's bytes in the journal's byte order, read by absolute index (its limit is the capacity). */
        private final ByteBuffer littleEndian;
        private final CRC32C crc = new CRC32C();
        private long windowStart;

        Reader(FileChannel channel, long size, ByteBuffer window) {
            this.channel = channel;
            this.size = size;
            this.window = window;
            this.littleEndian = window.clear().duplicate().order(ByteOrder.LITTLE_ENDIAN);
            window.limit(0);
        }

        long remaining() {
            return size - (windowStart + window.position());
        }

        int crc() {
            return (int) crc.getValue();
        }

        byte get() throws IOException {
            return littleEndian.get(advance(1));
        }

        int getInt() throws IOException {
            return littleEndian.getInt(advance(4));
        }

        long getLong() throws IOException {
            return littleEndian.getLong(advance(8));
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

        /** Whether the next {@code bytes} bytes are in the window already: consuming them reads nothing. */
        boolean hasBuffered(int bytes) {
            return window.remaining() >= bytes;
        }

        /** The next {@code bytes} bytes as a little-endian view, folded into the CRC. */
        ByteBuffer consume(int bytes) throws IOException {
            return littleEndian.slice(advance(bytes), bytes).order(ByteOrder.LITTLE_ENDIAN);
        }

        /**
         * Moves past the next {@code bytes} bytes, reading them in if needed and folding them into the CRC; returns
         * where in the window they start.
         */
        private int advance(int bytes) throws IOException {
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
            int start = window.position();
            int limit = window.limit();
            window.limit(start + bytes);
            crc.update(window); // moves the position past them
            window.limit(limit);
            return start;
        }
    }
}
