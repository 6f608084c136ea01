package io.cpstream.agent;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import java.nio.ByteBuffer;

/**
 * The encoded payloads of the page batch being built, in one array reused from batch to batch, so that
 * streaming a page allocates nothing on the heap. Copying each payload into a fresh array cost as many heap
 * bytes as the stream carried (tens of MB/s), and the collections that garbage brought on slowed whatever
 * ran meanwhile, stuns included.
 *
 * <p>Reuse is safe because gRPC serializes a message inside {@code onNext}, and the agent's channel has
 * gRPC's retries off, so nothing keeps the message to serialize again: once the batch was sent, its bytes
 * are in the transport's buffers and {@link #clear()} may hand the array out again.
 */
final class BatchPayloads {

    private byte[] bytes;
    private int used;

    /** @param capacity at least the batch limit plus the largest single payload */
    BatchPayloads(int capacity) {
        this.bytes = new byte[capacity];
    }

    /**
     * The payload's bytes (from its position to its limit) as a ByteString valid until {@link #clear()}; a
     * payload that no longer fits (not expected within the batch limit) gets an array of its own.
     */
    ByteString hold(ByteBuffer payload) {
        int length = payload.remaining();
        if (used + length > bytes.length) {
            return ByteString.copyFrom(payload.duplicate());
        }
        payload.get(payload.position(), bytes, used, length);
        ByteString held = UnsafeByteOperations.unsafeWrap(bytes, used, length);
        used += length;
        return held;
    }

    /**
     * Appends the payload's bytes (from its position to its limit) to the batch's data, growing the array if it must
     * (not expected within the batch limit; nothing appended has been handed out before {@link #appended()}).
     */
    void append(ByteBuffer payload) {
        int length = payload.remaining();
        if (used + length > bytes.length) {
            bytes = java.util.Arrays.copyOf(bytes, Math.max(2 * bytes.length, used + length));
        }
        payload.get(payload.position(), bytes, used, length);
        used += length;
    }

    /** Every byte appended since {@link #clear()}, as a ByteString valid until {@link #clear()}. */
    ByteString appended() {
        return used == 0 ? ByteString.EMPTY : UnsafeByteOperations.unsafeWrap(bytes, 0, used);
    }

    /** The batch holding the payloads was sent: the array may be reused. */
    void clear() {
        used = 0;
    }
}
