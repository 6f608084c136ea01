package io.cpstream.agent.failover;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/** Collectors the agent lost recently, avoided for a while: one that came back may take agents again later. */
final class AvoidList {

    private final long avoidNanos;
    private final Map<String, Long> lostAt = new HashMap<>();

    AvoidList(long avoidNanos) {
        this.avoidNanos = avoidNanos;
    }

    synchronized void add(String id) {
        lostAt.put(id, System.nanoTime());
    }

    /** The ids to avoid now. */
    synchronized Set<String> current() {
        long now = System.nanoTime();
        lostAt.values().removeIf(at -> now - at > avoidNanos);
        return Set.copyOf(lostAt.keySet());
    }
}
