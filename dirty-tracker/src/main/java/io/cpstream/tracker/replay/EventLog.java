package io.cpstream.tracker.replay;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32;

/**
 * An event log file: the inputs a guest got after a checkpoint, what `cpstream replay` and a promoted
 * standby feed a restored guest. Little-endian:
 * <pre>
 *   u64 magic "CPSEVLOG", u32 version (1), u32 0,
 *   u64 from   port-access ordinal of the checkpoint the log follows (the guest's, in its device state)
 *   u64 end    the log covers every input of a port access below this
 *   u64 n      bytes of events
 *   n bytes    events ({@link InputEvents}), ordinals in [from, end)
 *   u32        CRC-32 (IEEE) of everything before it
 * </pre>
 * A reader refuses anything else (another magic or version, a bad CRC, a length that does not match the file,
 * events that do not check) with the reason, so a malformed log never reaches a guest.
 */
public record EventLog(long from, long end, byte[] events) {

    public static final long MAGIC = 0x474f4c5645535043L; // "CPSEVLOG" little-endian
    public static final int VERSION = 1;
    public static final int HEADER = 40;
    /** The largest log a reader accepts: 1 GiB of events. */
    public static final long MAX_EVENT_BYTES = 1L << 30;

    public EventLog {
        InputEvents.check(events, from, end);
    }

    public byte[] encode() {
        ByteBuffer out = ByteBuffer.allocate(HEADER + events.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(MAGIC).putInt(VERSION).putInt(0).putLong(from).putLong(end).putLong(events.length).put(events);
        CRC32 crc = new CRC32();
        crc.update(out.array(), 0, out.position());
        out.putInt((int) crc.getValue());
        return out.array();
    }

    /** @throws IllegalArgumentException saying what is wrong with the bytes */
    public static EventLog decode(byte[] bytes) {
        if (bytes.length < HEADER + 4) {
            throw new IllegalArgumentException("an event log of " + bytes.length + " bytes is shorter than its header");
        }
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (in.getLong() != MAGIC) {
            throw new IllegalArgumentException("not an event log (bad magic)");
        }
        int version = in.getInt();
        if (version != VERSION || in.getInt() != 0) {
            throw new IllegalArgumentException("event log version " + version + "; this build reads version " + VERSION);
        }
        long from = in.getLong();
        long end = in.getLong();
        long n = in.getLong();
        if (n < 0 || n > MAX_EVENT_BYTES || n != bytes.length - HEADER - 4L) {
            throw new IllegalArgumentException("event log says " + n + " bytes of events, the file holds "
                    + (bytes.length - HEADER - 4L));
        }
        CRC32 crc = new CRC32();
        crc.update(bytes, 0, bytes.length - 4);
        if ((int) crc.getValue() != in.getInt(bytes.length - 4)) {
            throw new IllegalArgumentException("event log is corrupt (CRC-32 mismatch)");
        }
        byte[] events = new byte[(int) n];
        in.get(events);
        return new EventLog(from, end, events);
    }

    /** Reads an event log file, or a {@link JournalFile} (a collector's journal, an agent's copy of its inputs). */
    public static EventLog read(Path file) throws IOException {
        if (Files.size(file) > MAX_EVENT_BYTES + HEADER + 4) {
            throw new IllegalArgumentException(file + " is larger than an event log may be");
        }
        try {
            byte[] bytes = Files.readAllBytes(file);
            if (JournalFile.holds(bytes)) {
                return JournalFile.read(bytes).orElseThrow(() -> new IllegalArgumentException(
                        "an event journal holding no inputs"));
            }
            return decode(bytes);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** Writes the log durably: a temporary file, forced, renamed over {@code file}. */
    public void write(Path file) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer data = ByteBuffer.wrap(encode());
            while (data.hasRemaining()) {
                ch.write(data);
            }
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The log cut at port access {@code until} (events below it; the end moves there). */
    public EventLog until(long until) {
        if (until < from || until > end) {
            throw new IllegalArgumentException("port access " + until + " is outside the log's [" + from + ", " + end + "]");
        }
        return new EventLog(from, until, InputEvents.until(events, until));
    }
}
