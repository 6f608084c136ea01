package io.cpstream.tracker.trace;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.Map;
import net.jpountz.lz4.LZ4FrameInputStream;

/**
 * Reads a trace epoch by epoch. Everything is checked before it is used (magic, version, geometry,
 * page numbers, lengths, tags, epoch order), so a corrupt file fails with a {@link TraceFormatException}
 * instead of a wrong replay. Not thread-safe.
 */
public final class TraceReader implements AutoCloseable {

    private final Path path;
    private final TraceHeader header;
    private final InputStream file;
    private final DataInputStream in;
    private final byte[] chunk = new byte[1 << 16];
    private final Arena arena = Arena.ofShared();
    private MemorySegment data = MemorySegment.NULL;
    private long epochs;
    private boolean ended;

    public TraceReader(Path path) throws IOException {
        this.path = path;
        this.file = new BufferedInputStream(Files.newInputStream(path), 1 << 16);
        try {
            DataInputStream raw = new DataInputStream(file);
            this.header = readHeader(raw);
            this.in = new DataInputStream(new BufferedInputStream(new LZ4FrameInputStream(file), 1 << 16));
        } catch (EOFException e) {
            file.close();
            throw new TraceFormatException(path + " ends inside its header");
        } catch (TraceFormatException | RuntimeException e) {
            file.close();
            throw e;
        } catch (IOException e) {
            // Malformed metadata text (UTFDataFormatException) or an LZ4 frame header that does not parse: as
            // next() does for the body, a file that does not read is a corrupt one.
            file.close();
            throw new TraceFormatException(path + ": corrupt header: " + e.getMessage());
        }
    }

    public TraceHeader header() {
        return header;
    }

    /** Epochs read so far. */
    public long epochs() {
        return epochs;
    }

    /**
     * The next epoch, or null after the end record. The epoch's page data stays valid until the next call.
     */
    public TraceEpoch next() throws IOException {
        if (ended) {
            return null;
        }
        try {
            byte tag = in.readByte();
            if (tag == TraceFormat.END_TAG) {
                long count = in.readLong();
                if (count != epochs) {
                    throw corrupt("end record counts " + count + " epochs, the file has " + epochs);
                }
                ended = true;
                return null;
            }
            if (tag != TraceFormat.EPOCH_TAG) {
                throw corrupt("unknown record tag " + tag);
            }
            return readEpoch();
        } catch (EOFException e) {
            throw new TraceFormatException(path + " ends after epoch " + epochs
                    + " without its end record (was the recording interrupted?)");
        } catch (IOException e) {
            if (e instanceof TraceFormatException) {
                throw e;
            }
            throw new TraceFormatException(path + ": corrupt compressed data after epoch " + epochs + ": " + e.getMessage());
        }
    }

    @Override
    public void close() throws IOException {
        try (arena) {
            in.close();
        }
    }

    private TraceEpoch readEpoch() throws IOException {
        long epoch = in.readLong();
        if (epoch != epochs + 1) {
            throw corrupt("epoch " + epoch + " follows epoch " + epochs);
        }
        long offsetNanos = in.readLong();
        long unixMicros = in.readLong();
        long stopNanos = in.readLong();
        long pauseNanos = in.readLong();
        byte[] deviceState = readBytes(in.readInt(), TraceFormat.MAX_DEVICE_STATE_BYTES, "device state");
        BitSet dirty = readRuns();
        int pageSize = header.pageSize();
        // Sized by what the file sets, never by the header's claim (a corrupt page count must not allocate).
        BitSet zero = new BitSet();
        long dataPages = 0;
        for (int page = dirty.nextSetBit(0); page >= 0; page = dirty.nextSetBit(page + 1)) {
            byte kind = in.readByte();
            if (kind == TraceFormat.PAGE_ZERO) {
                zero.set(page);
            } else if (kind == TraceFormat.PAGE_DATA) {
                dataPages++;
            } else {
                throw corrupt("unknown page kind " + kind + " for page " + page + " of epoch " + epoch);
            }
        }
        long dataBytes = dataPages * pageSize;
        for (long done = 0; done < dataBytes; ) {
            int length = (int) Math.min(chunk.length, dataBytes - done);
            in.readFully(chunk, 0, length);
            // Grown as the bytes arrive, not from the count claimed: a corrupt file ends before it can claim memory.
            if (data.byteSize() < done + length) {
                MemorySegment grown = arena.allocate(Math.min(dataBytes, Math.max(done + length,
                        Math.max(1 << 20, 2 * data.byteSize()))), 4096);
                MemorySegment.copy(data, 0, grown, 0, done);
                data = grown;
            }
            MemorySegment.copy(chunk, 0, data, ValueLayout.JAVA_BYTE, done, length);
            done += length;
        }
        byte[] digest = new byte[TraceFormat.DIGEST_BYTES];
        in.readFully(digest);
        epochs = epoch;
        return new TraceEpoch(epoch, offsetNanos, unixMicros, stopNanos, pauseNanos, deviceState, dirty, zero,
                data.asSlice(0, dataBytes), digest);
    }

    private BitSet readRuns() throws IOException {
        int runs = in.readInt();
        if (runs < 0 || runs > (header.pageCount() + 1) / 2 + 1) {
            throw corrupt("epoch " + (epochs + 1) + " claims " + runs + " dirty runs");
        }
        BitSet dirty = new BitSet();
        long previousEnd = 0;
        for (int i = 0; i < runs; i++) {
            long start = Integer.toUnsignedLong(in.readInt());
            long length = Integer.toUnsignedLong(in.readInt());
            if (start < previousEnd || length == 0 || start + length > header.pageCount()) {
                throw corrupt("epoch " + (epochs + 1) + " has a dirty run of " + length + " pages at " + start
                        + ", out of order or beyond " + header.pageCount() + " pages");
            }
            dirty.set((int) start, (int) (start + length));
            previousEnd = start + length;
        }
        return dirty;
    }

    private TraceHeader readHeader(DataInputStream raw) throws IOException {
        byte[] magic = new byte[TraceFormat.MAGIC.length];
        raw.readFully(magic);
        if (!Arrays.equals(magic, TraceFormat.MAGIC)) {
            throw new TraceFormatException(path + " is not a cpstream trace (bad magic)");
        }
        int version = raw.readInt();
        if (version != TraceFormat.VERSION) {
            throw new TraceFormatException(path + " is a version " + version + " trace; this build reads version "
                    + TraceFormat.VERSION);
        }
        int pageSize = raw.readInt();
        int pageCount = raw.readInt();
        if (pageSize < 512 || pageSize > TraceFormat.MAX_PAGE_SIZE || Integer.bitCount(pageSize) != 1 || pageCount < 1) {
            throw new TraceFormatException(path + ": bad geometry, " + pageCount + " pages of " + pageSize + " bytes");
        }
        int entries = raw.readInt();
        if (entries < 0 || entries > TraceFormat.MAX_METADATA_ENTRIES) {
            throw new TraceFormatException(path + ": " + entries + " metadata entries");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (int i = 0; i < entries; i++) {
            metadata.put(raw.readUTF(), raw.readUTF());
        }
        return new TraceHeader(version, pageSize, pageCount, metadata);
    }

    private byte[] readBytes(int length, int max, String what) throws IOException {
        if (length < 0 || length > max) {
            throw corrupt("epoch " + (epochs + 1) + " has a " + what + " of " + length + " bytes");
        }
        byte[] bytes = new byte[length];
        in.readFully(bytes);
        return bytes;
    }

    private TraceFormatException corrupt(String what) {
        return new TraceFormatException(path + ": " + what);
    }
}
