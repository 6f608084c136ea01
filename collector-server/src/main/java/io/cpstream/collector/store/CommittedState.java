package io.cpstream.collector.store;

import io.cpstream.snapshot.CommittedOutputs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * What a committed epoch holds besides memory: the guest's device state at its stun, the outputs the standby
 * keeps for a promotion, and the primary's digest of its memory when its agent sent one. Written as
 * {@code state.bin} at every commit and in every journal, in a versioned binary format that this class owns.
 *
 * <p>Format, little-endian: {@code magic "CPSTATE\0"} · {@code u16 version} · {@code u16 flags (0)} ·
 * {@code u64 epoch} · {@code u32 length, device state} · {@code u64 outputs start, u64 outputs end,
 * u32 count, count × (u32 length, record)} · {@code u8 length (0 or 32), primary SHA-256} ·
 * {@code u32 CRC-32C of every byte before it}.
 *
 * <p>Compatibility rule: a reader accepts every version up to its own and refuses a newer one with a message
 * naming both, never guessing at fields it does not know. A change to the layout bumps {@link #VERSION}, and
 * the reader of the new version keeps reading every older one (a field a version lacks takes the value that
 * means "absent"). Corruption (bad magic, CRC mismatch, a length past the end) is an error, never a guess.
 */
public record CommittedState(long epoch, byte[] deviceState, CommittedOutputs outputs, byte[] primarySha256) {

    /** Nothing committed yet: epoch 0, empty device state, no outputs, no digest. */
    public static final CommittedState EMPTY = new CommittedState(0, new byte[0], CommittedOutputs.NONE, null);

    static final long MAGIC = 0x0045544154535043L; // "CPSTATE\0" read little-endian
    static final int VERSION = 1;
    private static final int HEADER = 8 + 2 + 2 + 8;

    public CommittedState {
        if (deviceState == null || outputs == null) {
            throw new IllegalArgumentException("device state and outputs are required (may be empty)");
        }
        if (primarySha256 != null && primarySha256.length != 32) {
            throw new IllegalArgumentException("a primary digest is 32 bytes, not " + primarySha256.length);
        }
    }

    /** This state as of another epoch (what a checkpoint stages before its epoch is known to commit). */
    public CommittedState atEpoch(long next) {
        return new CommittedState(next, deviceState, outputs, primarySha256);
    }

    public byte[] encode() {
        int size = HEADER + 4 + deviceState.length + 8 + 8 + 4 + 1 + (primarySha256 == null ? 0 : 32) + 4;
        for (byte[] record : outputs.records()) {
            size += 4 + record.length;
        }
        ByteBuffer out = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(MAGIC).putShort((short) VERSION).putShort((short) 0).putLong(epoch);
        out.putInt(deviceState.length).put(deviceState);
        out.putLong(outputs.start()).putLong(outputs.end()).putInt(outputs.records().size());
        for (byte[] record : outputs.records()) {
            out.putInt(record.length).put(record);
        }
        if (primarySha256 == null) {
            out.put((byte) 0);
        } else {
            out.put((byte) 32).put(primarySha256);
        }
        CRC32C crc = new CRC32C();
        crc.update(out.array(), 0, out.position());
        out.putInt((int) crc.getValue());
        return out.array();
    }

    /** Reads what {@link #encode()} wrote; {@code what} names the source in errors (a file, a journal). */
    public static CommittedState decode(byte[] bytes, String what) throws IOException {
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        try {
            if (bytes.length < HEADER + 4 || in.getLong() != MAGIC) {
                throw new IOException(what + " is not a cpstream state file");
            }
            int version = Short.toUnsignedInt(in.getShort());
            if (version > VERSION) {
                throw new IOException(what + " has state format version " + version + "; this collector reads up to "
                        + VERSION + " (written by a newer cpstream)");
            }
            CRC32C crc = new CRC32C();
            crc.update(bytes, 0, bytes.length - 4);
            if ((int) crc.getValue() != ByteBuffer.wrap(bytes, bytes.length - 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt()) {
                throw new IOException(what + " is corrupt: its CRC-32C does not match");
            }
            in.getShort(); // flags: none defined in version 1
            long epoch = in.getLong();
            byte[] deviceState = take(in, in.getInt(), what);
            long start = in.getLong();
            long end = in.getLong();
            int count = in.getInt();
            if (count < 0 || count > in.remaining() / 4) {
                throw new IOException(what + " is corrupt: " + count + " output records");
            }
            List<byte[]> records = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                records.add(take(in, in.getInt(), what));
            }
            int digestLength = Byte.toUnsignedInt(in.get());
            byte[] digest = digestLength == 0 ? null : take(in, digestLength, what);
            if (in.remaining() != 4) {
                throw new IOException(what + " is corrupt: " + (in.remaining() - 4) + " bytes after its last field");
            }
            return new CommittedState(epoch, deviceState, new CommittedOutputs(start, end, records), digest);
        } catch (java.nio.BufferUnderflowException | IllegalArgumentException e) {
            throw new IOException(what + " is corrupt: " + e.getMessage(), e);
        }
    }

    private static byte[] take(ByteBuffer in, int length, String what) throws IOException {
        if (length < 0 || length > in.remaining()) {
            throw new IOException(what + " is corrupt: a field of " + length + " bytes with " + in.remaining() + " left");
        }
        byte[] bytes = new byte[length];
        in.get(bytes);
        return bytes;
    }
}
