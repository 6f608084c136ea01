package io.cpstream.harness.bench;

import io.cpstream.agent.output.OutputReceiver;
import io.cpstream.agent.output.TcpOutputSink;
import io.cpstream.harness.Directories;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/**
 * The floor under any protection's output latency, measured beside it: the same kind of sink (a TCP
 * {@link OutputReceiver} on loopback, its log forced per write) written to directly, one record per request period,
 * from the moment a write starts to the moment the receiver has it in its log. What no protection can beat: an
 * output released the instant it is emitted still takes this. Its own receiver and log, so it does not queue the
 * measured outputs behind its writes; it does load the machine a little, as the protected outputs do.
 */
final class SinkFloor implements AutoCloseable {

    private static final String VM = "bench-sink-floor";

    private final Path dir;
    private final OutputReceiver receiver;
    private final Thread writer;
    private final long periodNanos;
    /** {@link System#nanoTime()} at the start of the write of each record index; guarded by this. */
    private final Map<Long, Long> started = new HashMap<>();
    private final LatencySamples latencies = new LatencySamples();
    private volatile boolean measuring;
    private volatile boolean stopped;
    /** Why the writer stopped before the bench did, or null. */
    private volatile String failure;

    /** Starts writing one record every {@code periodNanos}. */
    SinkFloor(long periodNanos) {
        this.periodNanos = periodNanos;
        try {
            dir = Files.createTempDirectory("cpstream-bench-floor-");
            receiver = new OutputReceiver("127.0.0.1", 0, dir.resolve("released.log"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the bench's sink floor", e);
        }
        receiver.onAccepted(this::accepted);
        writer = Thread.ofPlatform().daemon().name("bench-sink-floor").start(this::write);
    }

    private void write() {
        byte[] record = "floor".getBytes(StandardCharsets.US_ASCII);
        try (TcpOutputSink sink = new TcpOutputSink("127.0.0.1", receiver.port())) {
            long next = Math.max(0, sink.open(VM, 1)); // -1: nothing released to this log yet
            long start = System.nanoTime();
            for (long i = 0; !stopped; i++) {
                long wait;
                while (!stopped && (wait = start + i * periodNanos - System.nanoTime()) > 0) {
                    LockSupport.parkNanos(wait);
                }
                synchronized (this) {
                    started.put(next, System.nanoTime());
                }
                sink.write(next, List.of(record));
                next++;
            }
        } catch (IOException | RuntimeException e) {
            if (!stopped) {
                failure = e.toString();
            }
        }
    }

    private synchronized void accepted(String vm, long first, int records, long nanos) {
        Long start = started.remove(first);
        if (start == null || !measuring) {
            return;
        }
        latencies.add(nanos - start);
    }

    void window(boolean on) {
        measuring = on;
    }

    /** {@code sink_floor_ms_p50/p99/max}: write start to in the receiver's log, over the window. */
    synchronized void addFigures(Map<String, Object> result) {
        if (failure != null) {
            throw new IllegalStateException("the bench's sink floor failed: " + failure);
        }
        latencies.putMillis(result, "sink_floor");
    }

    @Override
    public void close() throws Exception {
        stopped = true;
        writer.join(5_000);
        try {
            receiver.close();
        } finally {
            Directories.deleteTree(dir);
        }
    }
}
