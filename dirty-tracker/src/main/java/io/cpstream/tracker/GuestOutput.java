package io.cpstream.tracker;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * One record the guest emitted on its output channel: what the outside world would see.
 *
 * @param epoch the checkpoint epoch it belongs to: outputs emitted before stun N are in epoch N, so
 *              they may be released once checkpoint N is committed
 * @param index its position in the VM's output stream since boot (continues across a restore)
 * @param payload the bytes the guest emitted
 */
public record GuestOutput(long epoch, long index, byte[] payload) {

    public GuestOutput {
        payload = payload.clone();
    }

    public int payloadLength() {
        return payload.length;
    }

    @Override
    public byte[] payload() {
        return payload.clone();
    }

    /** The first 8 payload bytes as a little-endian number (what {@code counter} and {@code memtouch} emit). */
    public long longValue() {
        if (payload.length < 8) {
            throw new IllegalStateException("output " + index + " has " + payload.length + " bytes, not a 64-bit value");
        }
        return ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GuestOutput other && epoch == other.epoch && index == other.index
                && Arrays.equals(payload, other.payload);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(index) * 31 + Arrays.hashCode(payload);
    }

    @Override
    public String toString() {
        return "GuestOutput[epoch=" + epoch + ", index=" + index + ", " + payload.length + " bytes]";
    }
}
