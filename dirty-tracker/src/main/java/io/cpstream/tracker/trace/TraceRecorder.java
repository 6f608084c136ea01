package io.cpstream.tracker.trace;

import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.Stun;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.BitSet;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Records any memory source into a trace: every epoch interval it stuns the source, harvests the dirty
 * set, copies those pages into a shadow of the image and resumes; then, while the source runs on, it
 * hashes the shadow (the image after the epoch) and appends the epoch. Only the stun is on the
 * source's clock; if hashing and writing take longer than the interval, the next epoch starts late and
 * the trace says so in its timestamps.
 */
public final class TraceRecorder {

    /** Told about each epoch once it is written. */
    public interface Listener {
        void recorded(long epoch, int dirtyPages, long stopNanos, long pauseNanos);
    }

    private TraceRecorder() {
    }

    /** Records {@code epochs} epochs of {@code source} (started here) into {@code out}. */
    public static void record(MemorySource source, Path out, Duration interval, int epochs, Map<String, String> metadata,
                              Listener listener) throws IOException, InterruptedException {
        record(source, out, interval, epochs, metadata, listener, () -> false);
    }

    /**
     * Records up to {@code epochs} epochs, stopping after the first epoch whose stun began once {@code ended} was
     * true: a guest that ended writes nothing more, so that epoch holds its last writes (a replay at its end).
     */
    public static void record(MemorySource source, Path out, Duration interval, int epochs, Map<String, String> metadata,
                              Listener listener, java.util.function.BooleanSupplier ended)
            throws IOException, InterruptedException {
        if (epochs < 1) {
            throw new IllegalArgumentException("record at least one epoch");
        }
        int pageSize = source.pageSize();
        MessageDigest sha = sha256();
        try (Arena arena = Arena.ofConfined();
             TraceWriter writer = new TraceWriter(out, pageSize, source.pageCount(), metadata)) {
            MemorySegment shadow = arena.allocate(source.memoryBytes(), 4096);
            source.start();
            long first = -1;
            long next = System.nanoTime();
            for (int epoch = 1; epoch <= epochs; epoch++) {
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
                boolean last = ended.getAsBoolean();
                long begin = System.nanoTime();
                long unixMicros = ChronoUnit.MICROS.between(Instant.EPOCH, Instant.now());
                BitSet dirty;
                byte[] deviceState;
                long stopNanos;
                Stun stun = source.stun();
                try (stun) {
                    dirty = stun.harvestDirty();
                    for (int page = dirty.nextSetBit(0); page >= 0; page = dirty.nextSetBit(page + 1)) {
                        source.copyPage(page, shadow, (long) page * pageSize);
                    }
                    deviceState = stun.deviceState();
                    stopNanos = stun.stopNanos();
                }
                long pauseNanos = stun.resumedAtNanos() - begin;
                if (first < 0) {
                    first = begin;
                }
                for (long offset = 0; offset < shadow.byteSize(); offset += 1 << 20) {
                    sha.update(shadow.asSlice(offset, Math.min(1 << 20, shadow.byteSize() - offset)).asByteBuffer());
                }
                writer.writeEpoch(begin - first, unixMicros, stopNanos, pauseNanos, deviceState, dirty, shadow,
                        sha.digest());
                listener.recorded(epoch, dirty.cardinality(), stopNanos, pauseNanos);
                if (last) {
                    break;
                }
                next = Math.max(begin + interval.toNanos(), System.nanoTime());
            }
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }
}
