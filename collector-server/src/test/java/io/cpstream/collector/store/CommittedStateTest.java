package io.cpstream.collector.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.snapshot.CommittedOutputs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** state.bin's format: what it writes reads back, and what it cannot vouch for is refused, never guessed at. */
class CommittedStateTest {

    private static final CommittedState STATE = new CommittedState(42, new byte[] {1, 2, 3},
            CommittedOutputs.NONE.advance(5, 7, List.of(new byte[] {7}, new byte[] {8, 9}), 0, true), new byte[32]);

    @Test
    void roundTrips() throws IOException {
        CommittedState back = CommittedState.decode(STATE.encode(), "test");
        assertEquals(42, back.epoch());
        assertArrayEquals(STATE.deviceState(), back.deviceState());
        assertEquals(5, back.outputs().start());
        assertEquals(7, back.outputs().end());
        assertArrayEquals(new byte[] {8, 9}, back.outputs().records().get(1));
        assertArrayEquals(new byte[32], back.primarySha256());
        assertNull(CommittedState.decode(CommittedState.EMPTY.encode(), "test").primarySha256());
    }

    @Test
    void everyFlippedBitAndEveryTruncationIsRefused() {
        byte[] bytes = STATE.encode();
        for (int i = 0; i < bytes.length; i++) {
            byte[] flipped = bytes.clone();
            flipped[i] ^= 0x10;
            assertThrows(IOException.class, () -> CommittedState.decode(flipped, "test"), "byte " + i);
        }
        for (int length = 0; length < bytes.length; length++) {
            byte[] cut = Arrays.copyOf(bytes, length);
            assertThrows(IOException.class, () -> CommittedState.decode(cut, "test"), "length " + length);
        }
    }

    @Test
    void aNewerVersionIsRefusedWithAMessageNamingBoth() {
        byte[] bytes = STATE.encode();
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putShort(8, (short) (CommittedState.VERSION + 1));
        IOException refused = assertThrows(IOException.class, () -> CommittedState.decode(bytes, "state.bin"));
        assertTrue(refused.getMessage().contains("version " + (CommittedState.VERSION + 1)), refused.getMessage());
    }
}
