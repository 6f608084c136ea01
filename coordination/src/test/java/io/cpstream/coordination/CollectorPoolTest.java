package io.cpstream.coordination;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.Test;

/** Collectors join and leave the pool in a real ZooKeeper; agents choose among them. */
class CollectorPoolTest {

    @Test
    void membersAreWhatJoinedWithTheirLatestLoadUntilTheyLeave() throws Exception {
        try (TestingServer zookeeper = new TestingServer(true);
             Coordinator collectorSide = Coordinator.connect(zookeeper.getConnectString(), 4000, 10_000);
             Coordinator agentSide = Coordinator.connect(zookeeper.getConnectString(), 4000, 10_000);
             CollectorPool joined = new CollectorPool(collectorSide);
             CollectorPool seen = new CollectorPool(agentSide)) {
            CollectorInfo b = new CollectorInfo("b", "10.0.0.2:7700", "host-b", 0, 0, 1L << 40);
            CollectorInfo c = new CollectorInfo("c", "10.0.0.3:7700", "host-c", 0, 0, 1L << 40);
            CollectorPool.Registration rb = joined.join(b);
            CollectorPool.Registration rc = joined.join(c);
            assertEquals(Set.of(b, c), Set.copyOf(seen.members()));

            CollectorInfo busier = new CollectorInfo("b", "10.0.0.2:7700", "host-b", 3, 3L << 30, 1L << 40);
            rb.update(busier);
            assertEquals(Set.of(busier, c), Set.copyOf(seen.members()));
            rc.close();
            assertEquals(List.of(busier), seen.members());
        }
    }

    @Test
    void anAgentIsPlacedOnTheLeastLoadedCollectorNotOnItsOwnHostNorOneItLost() {
        CollectorInfo own = new CollectorInfo("a", "a:1", "host-a", 0, 0, 100);
        CollectorInfo busy = new CollectorInfo("b", "b:1", "host-b", 2, 60, 100);
        CollectorInfo idle = new CollectorInfo("c", "c:1", "host-c", 1, 10, 100);
        CollectorInfo small = new CollectorInfo("d", "d:1", "host-d", 0, 0, 10);
        List<CollectorInfo> pool = List.of(own, busy, idle, small);
        assertEquals("c", CollectorInfo.choose(pool, "host-a", Set.of(), 50).orElseThrow().id());
        assertEquals("b", CollectorInfo.choose(pool, "host-a", Set.of("c"), 50).orElseThrow().id());
        assertTrue(CollectorInfo.choose(pool, "host-a", Set.of("b", "c"), 50).isEmpty(), "d is too small");
        assertEquals("d", CollectorInfo.choose(pool, "host-a", Set.of("b", "c"), 5).orElseThrow().id());
    }
}
