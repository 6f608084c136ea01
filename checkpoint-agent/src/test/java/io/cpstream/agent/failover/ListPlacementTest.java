package io.cpstream.agent.failover;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class ListPlacementTest {

    @Test
    void theSuccessorIsWhereLosingTheCollectorWouldPlaceTheAgent() {
        ListPlacement list = new ListPlacement("a:1, b:2, c:3");
        Placement.Target first = list.next();
        assertEquals("a:1", first.address());
        Placement.Target successor = list.successor(first);
        assertEquals("b:2", successor.address());
        assertEquals(first, list.next(), "asking for a successor moves nothing");

        list.lost(first);
        assertEquals(successor, list.next(), "the connection made ready is the one used");
        assertEquals("c:3", list.successor(successor).address(), "never back to the collector just lost");
    }

    @Test
    void oneCollectorHasNoSuccessor() {
        ListPlacement list = new ListPlacement("a:1");
        assertNull(list.successor(list.next()));
    }
}
