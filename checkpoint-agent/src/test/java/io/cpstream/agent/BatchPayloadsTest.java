package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

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

    @Test
    void payloadsOfOneBatchKeepTheirOwnBytesAndTheirPositions() {
        BatchPayloads payloads = new BatchPayloads(10_000);
        ByteBuffer first = payload(4096, 1);
        ByteBuffer second = payload(3000, 50);
        ByteString heldFirst = payloads.hold(first);
        ByteString heldSecond = payloads.hold(second);
        assertArrayEquals(bytesOf(first), heldFirst.toByteArray());
        assertArrayEquals(bytesOf(second), heldSecond.toByteArray());
        assertEquals(0, first.position(), "holding a payload does not consume its buffer");
    }

    @Test
    void aPayloadBeyondTheCapacityGetsAnArrayOfItsOwn() {
        BatchPayloads payloads = new BatchPayloads(5000);
        ByteBuffer first = payload(4096, 1);
        ByteBuffer second = payload(4096, 2);
        ByteString heldFirst = payloads.hold(first);
        ByteString heldSecond = payloads.hold(second);
        assertArrayEquals(bytesOf(first), heldFirst.toByteArray());
        assertArrayEquals(bytesOf(second), heldSecond.toByteArray());
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
