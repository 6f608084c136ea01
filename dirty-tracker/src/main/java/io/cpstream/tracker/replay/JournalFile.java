package io.cpstream.tracker.replay;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.zip.CRC32;

/**
 * The append-only file form of an event log, written one chunk at a time as inputs come: the collector's journal of a
 * VM under record/replay protection, and the copy a primary keeps of its own inputs ({@code agent --record-inputs}).
 * Little-endian: header {@code "CPSEVJNL", u32 version 1, u32 0}, then records {@code u64 from, u64 end, u32 n, n bytes
 * of events ({@link InputEvents}), u32 CRC-32 of the record}, each starting where the one before it ends.
 *
 * <p>Only the last record can be torn (a crash while appending, after which nothing was acknowledged from it): a reader
 * drops it. Any other damage is refused with the reason.
 */
public final class JournalFile {

    private static final long MAGIC = 0x4c4e4a5645535043L; // "CPSEVJNL" little-endian
    private static final int VERSION = 1;
    public static final int HEADER = 16;
    /** Bytes a record adds around its events. */
    public static final int RECORD_OVERHEAD = 24;

    private JournalFile() {
    }

    /** Whether {@code bytes} start as a journal does (any version). */
    static boolean holds(byte[] bytes) {
        return bytes.length >= 8 && ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong() == MAGIC;
    }

    /** The file's header, ready to write. */
    public static ByteBuffer header() {
        return ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN).putLong(MAGIC).putInt(VERSION).putInt(0).flip();
    }

    /** One record holding the inputs of port accesses [{@code from}, {@code end}), ready to write. */
    public static ByteBuffer record(long from, long end, byte[] events) {
        ByteBuffer record = ByteBuffer.allocate(RECORD_OVERHEAD + events.length).order(ByteOrder.LITTLE_ENDIAN);
        record.putLong(from).putLong(end).putInt(events.length).put(events);
        CRC32 crc = new CRC32();
        crc.update(record.array(), 0, RECORD_OVERHEAD - 4 + events.length);
        return record.putInt((int) crc.getValue()).flip();
    }

    /**
     * The log a journal's records make, from the first record's start to the last whole record's end; empty when it
     * holds no record.
     *
     * @throws IllegalArgumentException saying what is wrong: another header, a record failing its CRC before the last,
     *                                  a record not continuing the one before it, events that do not check
     */
    public static Optional<EventLog> read(byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < HEADER || in.getLong() != MAGIC || in.getInt() != VERSION) {
            throw new IllegalArgumentException("not an event journal of version " + VERSION);
        }
        in.getInt();
        java.io.ByteArrayOutputStream events = new java.io.ByteArrayOutputStream();
        long from = -1;
        long end = -1;
        while (in.remaining() >= RECORD_OVERHEAD - 4) {
            int at = in.position();
            long recordFrom = in.getLong();
            long recordEnd = in.getLong();
            int n = in.getInt();
            if (n < 0 || in.remaining() < (long) n + 4) {
                break; // torn tail: never acknowledged
            }
            byte[] chunk = new byte[n];
            in.get(chunk);
            CRC32 crc = new CRC32();
            crc.update(bytes, at, RECORD_OVERHEAD - 4 + n);
            if ((int) crc.getValue() != in.getInt()) {
                if (!in.hasRemaining()) {
                    break; // torn tail
                }
                throw new IllegalArgumentException("a record at byte " + at + " fails its CRC");
            }
            if (from >= 0 && recordFrom != end) {
                throw new IllegalArgumentException("a record at byte " + at + " starts at " + recordFrom + ", not " + end);
            }
            InputEvents.check(chunk, recordFrom, recordEnd);
            if (from < 0) {
                from = recordFrom;
            }
            events.writeBytes(chunk);
            end = recordEnd;
        }
        return from < 0 ? Optional.empty() : Optional.of(new EventLog(from, end, events.toByteArray()));
    }

    /** {@link #read(byte[])} of a file. */
    public static Optional<EventLog> read(Path file) throws IOException {
        return read(Files.readAllBytes(file));
    }
}
