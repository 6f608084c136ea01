package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BatchPayloadsTest {

    private static ByteBuffer payload(int length, int fill) {
        ByteBuffer buffer = ByteBuffer.allocateDirect(length + 8);
        for (int i = 0; i < buffer.capacity(); i++) {
            buffer.put(i, (byte) (fill + i));
        }
        return buffer.slice(4, length); // a view that starts inside its buffer, as the encoder's are
    }

    private static byte[] bytesOf(ByteBuffer payload) {
        byte[] bytes = new byte[payload.remaining()];
        payload.get(payload.position(), bytes);
        return bytes;
    }

    /** 10,000 bytes hold both payloads; 5,000 only the first, so the second gets an array of its own. */
    @ParameterizedTest(name = "capacity {0}")
    @ValueSource(ints = {10_000, 5000})
    void payloadsOfOneBatchKeepTheirOwnBytesAndTheirPositions(int capacity) {
        BatchPayloads payloads = new BatchPayloads(capacity);
        ByteBuffer first = payload(4096, 1);
        ByteBuffer second = payload(3000, 50);
        ByteString heldFirst = payloads.hold(first);
        ByteString heldSecond = payloads.hold(second);
        assertArrayEquals(bytesOf(first), heldFirst.toByteArray());
        assertArrayEquals(bytesOf(second), heldSecond.toByteArray());
        assertEquals(0, first.position(), "holding a payload does not consume its buffer");
        assertEquals(0, second.position(), "holding a payload does not consume its buffer");
    }

    @Test
    void afterClearTheArrayIsReusedFromItsStart() {
        BatchPayloads payloads = new BatchPayloads(5000);
        ByteString heldFirst = payloads.hold(payload(4096, 1));
        payloads.clear();
        ByteBuffer next = payload(4096, 7);
        ByteString heldNext = payloads.hold(next);
        assertArrayEquals(bytesOf(next), heldNext.toByteArray());
        // The first batch was sent before clear(): its bytes are gone, which is why clear() waits for the send.
        assertArrayEquals(bytesOf(next), heldFirst.toByteArray());
    }
}
