package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.BitSet;
import org.junit.jupiter.api.Test;

/** What an Ack or a Welcome tells the agent, as {@link ReplicationState} answers it for the output gate. */
class ReplicationStateTest {

    private static final String LINEAGE = "guest-a";

    @Test
    void anAckAnswersWithItsEpochsStunTimeAndOutputEndOnce() {
        ReplicationState state = twoEpochsPlanned();

        assertEquals(new Acknowledged(1, 100, 3), state.onAck(1));
        assertNull(state.onAck(1), "a repeated ack tells nothing new");
        assertEquals(new Acknowledged(2, 200, 7), state.onAck(2));
        assertNull(state.onAck(1), "nor does an older one");
        assertEquals(2, state.acked());
    }

    @Test
    void aWelcomeAnswersOnlyForEpochsOfThisGuestNoAckConfirmed() {
        ReplicationState state = twoEpochsPlanned();
        state.onAck(1);
        state.onDisconnect();

        // The standby committed epoch 2 while the stream was down: the Welcome confirms it, untimed.
        assertEquals(new Acknowledged(2, -1, 7), state.onWelcome(null, 2, false, LINEAGE, 7));
        assertEquals(2, state.acked());
        state.onDisconnect();
        assertNull(state.onWelcome(null, 2, false, LINEAGE, 7), "epoch 2 is acknowledged already");
        state.onDisconnect();
        assertNull(state.onWelcome(null, 2, false, "guest-b", 7), "another guest's standby confirms nothing");
    }

    /** Welcomed by an empty standby, then epoch 1 (stun at 100 ns, outputs below 3) and 2 (200 ns, below 7) planned. */
    private static ReplicationState twoEpochsPlanned() {
        ReplicationState state = new ReplicationState(16, LINEAGE);
        assertNull(state.onWelcome(null, 0, false, "", 0));
        state.plan(dirty(1), 100, 3);
        state.plan(dirty(2), 200, 7);
        return state;
    }

    private static BitSet dirty(int page) {
        BitSet pages = new BitSet();
        pages.set(page);
        return pages;
    }
}
