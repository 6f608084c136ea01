package io.cpstream.tracker.replay;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The encoding of logged inputs, as the shim drains and replays them (replay.c): one after another,
 * little-endian, {@code u64 ordinal, u16 port, u8 kind, u8 0, u32 value, u32 len, len bytes}. Kind 1 is the value
 * an IN of the input-poll port returned; kind 2 the request record the input fetch wrote into guest memory.
 * Checked here too, so a collector refuses a malformed log before it touches what it holds.
 */
public final class InputEvents {

    public static final int HEADER = 20;
    public static final int KIND_VALUE = 1;
    public static final int KIND_RECORD = 2;
    /** The guest ABI's input ports (cpskvm_abi.h). */
    public static final int PORT_INPUT_POLL = 0x501;
    public static final int PORT_INPUT_FETCH = 0x502;
    /** The longest input record (CPS_RECORD_MAX). */
    public static final int RECORD_MAX = 1024;

    /** One logged input. */
    public record Event(long ordinal, int port, int kind, int value, byte[] data) {
    }

    private InputEvents() {
    }

    /**
     * Checks {@code events}: whole records, known kinds on their ports, ordinals strictly ascending within
     * {@code [from, end)}. Returns how many events it holds.
     *
     * @throws IllegalArgumentException saying what is wrong
     */
    public static int check(byte[] events, long from, long end) {
        if (from < 0 || end < from) {
            throw new IllegalArgumentException("events cover port accesses [" + from + ", " + end + "): not a range");
        }
        ByteBuffer in = ByteBuffer.wrap(events).order(ByteOrder.LITTLE_ENDIAN);
        long next = from;
        int count = 0;
        while (in.hasRemaining()) {
            if (in.remaining() < HEADER) {
                throw new IllegalArgumentException("a truncated event at byte " + in.position());
            }
            long ordinal = in.getLong();
            int port = Short.toUnsignedInt(in.getShort());
            int kind = Byte.toUnsignedInt(in.get());
            int zero = in.get();
            in.getInt();
            int len = in.getInt();
            if (Long.compareUnsigned(ordinal, next) < 0 || Long.compareUnsigned(ordinal, end) >= 0) {
                throw new IllegalArgumentException("event at port access " + Long.toUnsignedString(ordinal)
                        + " is out of order or outside [" + from + ", " + end + ")");
            }
            boolean known = (kind == KIND_VALUE && port == PORT_INPUT_POLL && len == 0)
                    || (kind == KIND_RECORD && port == PORT_INPUT_FETCH && len >= 0 && len <= RECORD_MAX);
            if (!known || zero != 0) {
                throw new IllegalArgumentException("event at port access " + ordinal + " has port 0x"
                        + Integer.toHexString(port) + ", kind " + kind + ", " + Integer.toUnsignedString(len)
                        + " bytes: not an input of the guest ABI");
            }
            if (in.remaining() < len) {
                throw new IllegalArgumentException("event at port access " + ordinal + " is truncated");
            }
            in.position(in.position() + len);
            next = ordinal + 1;
            count++;
        }
        return count;
    }

    /** The events of a checked encoding. */
    public static List<Event> parse(byte[] events) {
        ByteBuffer in = ByteBuffer.wrap(events).order(ByteOrder.LITTLE_ENDIAN);
        List<Event> out = new ArrayList<>();
        while (in.remaining() >= HEADER) {
            long ordinal = in.getLong();
            int port = Short.toUnsignedInt(in.getShort());
            int kind = Byte.toUnsignedInt(in.get());
            in.get();
            int value = in.getInt();
            byte[] data = new byte[in.getInt()];
            in.get(data);
            out.add(new Event(ordinal, port, kind, value, data));
        }
        return out;
    }

    /** Encodes events (the inverse of {@link #parse}). */
    public static byte[] encode(List<Event> events) {
        int size = 0;
        for (Event e : events) {
            size += HEADER + e.data().length;
        }
        ByteBuffer out = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        for (Event e : events) {
            out.putLong(e.ordinal()).putShort((short) e.port()).put((byte) e.kind()).put((byte) 0).putInt(e.value())
                    .putInt(e.data().length).put(e.data());
        }
        return out.array();
    }

    /** The events of {@code events} at port accesses {@code >= from} (a log truncated at a checkpoint). */
    public static byte[] from(byte[] events, long from) {
        ByteBuffer in = ByteBuffer.wrap(events).order(ByteOrder.LITTLE_ENDIAN);
        while (in.remaining() >= HEADER) {
            int at = in.position();
            long ordinal = in.getLong();
            if (ordinal >= from) {
                return java.util.Arrays.copyOfRange(events, at, events.length);
            }
            in.position(at + HEADER + in.getInt(at + 16));
        }
        return new byte[0];
    }

    /** The events below port access {@code end}. */
    public static byte[] until(byte[] events, long end) {
        ByteBuffer in = ByteBuffer.wrap(events).order(ByteOrder.LITTLE_ENDIAN);
        while (in.remaining() >= HEADER) {
            int at = in.position();
            if (in.getLong() >= end) {
                return java.util.Arrays.copyOfRange(events, 0, at);
            }
            in.position(at + HEADER + in.getInt(at + 16));
        }
        return events;
    }
}
