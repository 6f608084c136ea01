package io.cpstream.tracker.trace;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a trace is of: the guest's page geometry and free-form metadata (the source spec it was recorded
 * from, the epoch interval, the host, the time), which replay reports but never interprets.
 */
public record TraceHeader(int version, int pageSize, int pageCount, Map<String, String> metadata) {

    public TraceHeader {
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    public long memoryBytes() {
        return (long) pageSize * pageCount;
    }
}
