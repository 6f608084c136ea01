package io.cpstream.collector.store;

import io.cpstream.snapshot.DurableFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * Which epoch a standby's image holds, and that epoch's {@link CommittedState}: one record appended per commit,
 * the last whole one wins. It replaces rewriting {@code state.bin} and {@code manifest.json} at every commit
 * (create, write, rename twice), whose renames were the largest wait of a commit on ext4 (a rename over an
 * existing file starts the new file's writeback there); an append is one write to a file that exists.
 *
 * <p>Layout, little-endian: {@code "CPCMTLOG" u32 version}, then records {@code u32 length, u64 stun time (µs
 * since the epoch), the encoded CommittedState (length - 8 bytes, with its own CRC-32C), u32 CRC-32C of length,
 * stun time and state}. A record that is cut short or does not verify ends the log: it is what a crash during
 * an append leaves, and everything before it stands. When the log outgrows {@link #COMPACT_BYTES} it is rewritten
 * with its last record alone (write, rename: rare).
 *
 * <p>Compatibility rule: a reader accepts every version up to its own and refuses a newer one; version 1 is the
 * first. The file is opened for each append, so nothing holds it between commits.
 */
final class CommitLog {

    static final String FILE = "commits.log";
    private static final long MAGIC = 0x474F4C544D435043L; // "CPCMTLOG" read little-endian
    private static final int VERSION = 1;
    private static final int HEADER_BYTES = 8 + 4;
    /** Past this size the next append rewrites the log with that record alone. */
    static final long COMPACT_BYTES = 1 << 20;

    private final Path file;
    private final boolean durable;

    /** The last committed epoch the log holds. */
    record Last(long stunUnixMicros, CommittedState state) {
    }

    CommitLog(Path directory, boolean durable) {
        this.file = directory.resolve(FILE);
        this.durable = durable;
    }

    /** Starts the log with {@code state} as its only record, replacing any log there was. */
    void reset(long stunUnixMicros, CommittedState state) throws IOException {
        byte[] record = record(stunUnixMicros, state);
        ByteBuffer whole = ByteBuffer.allocate(HEADER_BYTES + record.length).order(ByteOrder.LITTLE_ENDIAN);
        whole.putLong(MAGIC).putInt(VERSION).put(record);
        DurableFiles.replace(file, whole.array(), durable);
    }

    /** Appends the commit of {@code state}; with durability, forced before returning. */
    void append(long stunUnixMicros, CommittedState state) throws IOException {
        byte[] record = record(stunUnixMicros, state);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            if (channel.size() + record.length > COMPACT_BYTES) {
                channel.close();
                reset(stunUnixMicros, state);
                return;
            }
            DurableFiles.writeFully(channel, ByteBuffer.wrap(record));
            if (durable) {
                channel.force(false);
            }
        } catch (NoSuchFileException e) {
            throw new IOException(file + " is missing: the standby's commits cannot be recorded", e);
        }
    }

    /**
     * The committed epoch: the last whole record.
     *
     * @throws IOException the log holds no whole record, or {@link #readLast()} refused it
     */
    Last committed() throws IOException {
        Last last = readLast();
        if (last == null) {
            throw new IOException(file + " holds no whole commit");
        }
        return last;
    }

    /**
     * The last whole record, or null if the log holds none.
     *
     * @throws IOException the file is missing, is not a commit log, or is of a newer version
     */
    Last readLast() throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < HEADER_BYTES || in.getLong() != MAGIC) {
            throw new IOException(file + " is not a cpstream commit log");
        }
        int version = in.getInt();
        if (version > VERSION || version < 1) {
            throw new IOException(file + " has commit log version " + version + "; this collector reads up to "
                    + VERSION + " (written by a newer cpstream)");
        }
        Last last = null;
        CRC32C crc = new CRC32C();
        while (in.remaining() >= 4 + 8 + 4) {
            int start = in.position();
            int length = in.getInt();
            if (length < 8 || length > in.remaining() - 4) {
                break; // cut short by a crash during its append
            }
            crc.reset();
            crc.update(bytes, start, 4 + length);
            long stun = in.getLong();
            byte[] state = new byte[length - 8];
            in.get(state);
            if ((int) crc.getValue() != in.getInt()) {
                break;
            }
            last = new Last(stun, CommittedState.decode(state, file + "'s record at byte " + start));
        }
        return last;
    }

    private static byte[] record(long stunUnixMicros, CommittedState state) {
        byte[] encoded = state.encode();
        ByteBuffer record = ByteBuffer.allocate(4 + 8 + encoded.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        record.putInt(8 + encoded.length).putLong(stunUnixMicros).put(encoded);
        CRC32C crc = new CRC32C();
        crc.update(record.array(), 0, record.position());
        record.putInt((int) crc.getValue());
        return record.array();
    }
}
