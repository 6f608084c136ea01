package io.cpstream.tracker.kvm;

import io.cpstream.tracker.GuestOutput;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Requests and responses of the {@code kv} guest (see src/main/c/guest/kv.c for the layout).
 * Requests go in with {@link KvmSource#offerInput}; responses come back as {@link GuestOutput}s, in order,
 * each carrying the id of its request.
 */
public final class KvProtocol {

    public static final int OK = 0;
    public static final int NOT_FOUND = 1;
    public static final int FULL = 2;
    public static final int BAD_REQUEST = 3;
    public static final int KEY_MAX = 56;
    public static final int VALUE_MAX = 448;
    private static final int HEADER = 16;

    private KvProtocol() {
    }

    public static byte[] put(long id, byte[] key, byte[] value) {
        return request('P', id, key, value);
    }

    public static byte[] get(long id, byte[] key) {
        return request('G', id, key, new byte[0]);
    }

    public static byte[] delete(long id, byte[] key) {
        return request('D', id, key, new byte[0]);
    }

    private static byte[] request(char op, long id, byte[] key, byte[] value) {
        if (key.length == 0 || key.length > KEY_MAX) {
            throw new IllegalArgumentException("kv keys are 1.." + KEY_MAX + " bytes, not " + key.length);
        }
        if (value.length > VALUE_MAX) {
            throw new IllegalArgumentException("kv values are at most " + VALUE_MAX + " bytes, not " + value.length);
        }
        return ByteBuffer.allocate(HEADER + key.length + value.length).order(ByteOrder.LITTLE_ENDIAN)
                .put((byte) op).put((byte) key.length).putShort((short) value.length).putInt(0).putLong(id)
                .put(key).put(value).array();
    }

    /** A decoded response. */
    public record Response(long id, int status, char op, byte[] value) {

        public Response {
            value = value.clone();
        }

        @Override
        public byte[] value() {
            return value.clone();
        }

        public boolean ok() {
            return status == OK;
        }

        public static Response decode(byte[] payload) {
            if (payload.length < HEADER) {
                throw new IllegalArgumentException("kv response of " + payload.length + " bytes is truncated");
            }
            ByteBuffer b = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
            long id = b.getLong();
            int status = b.get() & 0xff;
            char op = (char) (b.get() & 0xff);
            int length = b.getShort() & 0xffff;
            if (payload.length != HEADER + length) {
                throw new IllegalArgumentException("kv response declares " + length + " value bytes but carries "
                        + (payload.length - HEADER));
            }
            return new Response(id, status, op, Arrays.copyOfRange(payload, HEADER, payload.length));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Response r && id == r.id && status == r.status && op == r.op && Arrays.equals(value, r.value);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(id) * 31 + Arrays.hashCode(value);
        }

        @Override
        public String toString() {
            return "Response[id=" + id + ", status=" + status + ", op=" + op + ", " + value.length + " value bytes]";
        }
    }
}
