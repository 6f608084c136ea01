package io.cpstream.collector;

import io.cpstream.collector.store.Durability;
import java.nio.file.Path;
import java.time.Duration;

/**
 * How a collector runs.
 *
 * @param host          address to listen on
 * @param port          port to listen on; 0 picks a free one
 * @param dataDirectory where standbys live, one directory per VM under {@code vms/}
 * @param durability    what an acknowledged epoch survives
 * @param maxGuestBytes largest guest this collector accepts, so a hello cannot make it map absurd files
 * @param drain         how long a stop waits for streams to finish before cutting them
 */
public record CollectorConfig(String host, int port, Path dataDirectory, Durability durability, long maxGuestBytes,
                              Duration drain) {

    public static final long DEFAULT_MAX_GUEST_BYTES = 1L << 40;

    public static CollectorConfig of(String host, int port, Path dataDirectory) {
        return new CollectorConfig(host, port, dataDirectory, Durability.NONE, DEFAULT_MAX_GUEST_BYTES,
                Duration.ofSeconds(5));
    }

    public CollectorConfig withDurability(Durability value) {
        return new CollectorConfig(host, port, dataDirectory, value, maxGuestBytes, drain);
    }

    public CollectorConfig withDrain(Duration value) {
        return new CollectorConfig(host, port, dataDirectory, durability, maxGuestBytes, value);
    }

    public CollectorConfig withPort(int value) {
        return new CollectorConfig(host, value, dataDirectory, durability, maxGuestBytes, drain);
    }
}
