package io.cpstream.agent;

import java.util.LinkedHashMap;
import java.util.Map;

/** The guest's SHA-256 at the most recent stuns (verify mode), so a promoted image can be checked. */
final class DigestLog {

    private final Map<Long, byte[]> byEpoch;

    DigestLog(int retained) {
        this.byEpoch = new LinkedHashMap<>() {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, byte[]> eldest) {
                return size() > retained;
            }
        };
    }

    synchronized void put(long epoch, byte[] digest) {
        byEpoch.put(epoch, digest);
    }

    synchronized byte[] get(long epoch) {
        return byEpoch.get(epoch);
    }
}
