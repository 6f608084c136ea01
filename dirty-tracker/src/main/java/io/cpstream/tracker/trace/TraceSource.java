package io.cpstream.tracker.trace;

import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.SourceSpec;
import io.cpstream.tracker.SourceStun;
import io.cpstream.tracker.Stun;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Replays a recorded trace as a guest: a player thread writes each recorded epoch's pages into the
 * image, as the recorded guest wrote them, and a harvest reports the recorded dirty sets.
 *
 * <p>Spec: {@code trace:file=FILE[,speed=max|realtime]} (or {@code trace:FILE}).
 * <ul>
 *   <li>{@code max} (default): exactly one recorded epoch between two stuns. Stun k sees the image after
 *       recorded epoch k; the player applies epoch k+1 as soon as stun k ends, and stun k+1 waits for
 *       it. Runs as fast as the consumer stuns.</li>
 *   <li>{@code realtime}: the player applies each epoch at its recorded time after {@link #start()};
 *       a stun sees whatever has been applied by then (none, one or several epochs, their dirty sets
 *       merged).</li>
 * </ul>
 * After the last epoch the guest is idle: stuns see no new writes and {@link #finished()} turns true.
 * {@link #expectedDigestAtStun(long)} is the recorded SHA-256 of the image each stun saw, so a replay
 * through agent and collector can be checked against the recording.
 */
public final class TraceSource implements MemorySource {

    public enum Speed { MAX, REALTIME }

    private final Map<String, String> params;
    private final Path file;
    private final Speed speed;
    private final TraceReader reader;
    private final TraceHeader header;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment memory;
    /** Held by the player while it applies an epoch, and by a stun from its start to its end. */
    private final ReentrantLock gate = new ReentrantLock();
    private final Condition progress = gate.newCondition();
    private final BitSet dirty;
    private final List<byte[]> recordedDigests = new ArrayList<>();
    /** For each stun, how many recorded epochs it saw applied. */
    private final List<Integer> appliedAtStun = new ArrayList<>();
    private byte[] deviceState = new byte[0];
    private int applied;
    private long stunsEnded;
    private boolean ended;
    private boolean firstHarvest = true;
    private Throwable failure;
    private Thread player;
    private volatile boolean closed;

    private TraceSource(SourceSpec spec, Path file, Speed speed) throws IOException {
        this.params = spec.params();
        this.file = file;
        this.speed = speed;
        this.reader = new TraceReader(file);
        this.header = reader.header();
        this.memory = arena.allocate(header.memoryBytes(), 4096);
        this.dirty = new BitSet(header.pageCount());
    }

    public static TraceSource open(SourceSpec spec) {
        SourceSpec.Reader reader = spec.reader();
        String file = reader.string("file", null);
        if (file == null || file.isBlank()) {
            throw new IllegalArgumentException("trace source needs the file: trace:file=FILE (or trace:FILE)");
        }
        String speedText = reader.string("speed", "max");
        Speed speed = switch (speedText) {
            case "max" -> Speed.MAX;
            case "realtime" -> Speed.REALTIME;
            default -> throw new IllegalArgumentException("trace source: speed=" + speedText + " must be max or realtime");
        };
        reader.requireAllUsed();
        try {
            return new TraceSource(spec, Path.of(file), speed);
        } catch (IOException e) {
            throw new IllegalArgumentException("trace source: cannot open " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String kind() {
        return "trace";
    }

    @Override
    public Map<String, String> params() {
        return params;
    }

    @Override
    public int pageSize() {
        return header.pageSize();
    }

    @Override
    public int pageCount() {
        return header.pageCount();
    }

    public TraceHeader header() {
        return header;
    }

    /** Recorded epochs applied so far. */
    public int appliedEpochs() {
        gate.lock();
        try {
            return applied;
        } finally {
            gate.unlock();
        }
    }

    /**
     * The recorded SHA-256 of the image as stun {@code stun} (1, 2, ... since start) saw it, or null if
     * that stun came before the first recorded epoch was applied or is not known.
     */
    public byte[] expectedDigestAtStun(long stun) {
        gate.lock();
        try {
            if (stun < 1 || stun > appliedAtStun.size()) {
                return null;
            }
            int epochs = appliedAtStun.get((int) (stun - 1));
            return epochs == 0 ? null : recordedDigests.get(epochs - 1).clone();
        } finally {
            gate.unlock();
        }
    }

    /** True once every recorded epoch has been applied and a stun has seen the last one. */
    @Override
    public boolean finished() {
        gate.lock();
        try {
            return ended && !appliedAtStun.isEmpty() && appliedAtStun.getLast() == applied;
        } finally {
            gate.unlock();
        }
    }

    @Override
    public synchronized void start() {
        if (player != null) {
            return;
        }
        player = Thread.ofPlatform().daemon().name("trace-player").start(this::play);
    }

    @Override
    public Stun stun() {
        long begin = System.nanoTime();
        gate.lock();
        try {
            while (speed == Speed.MAX && player != null && applied <= stunsEnded && !ended && failure == null) {
                progress.await();
            }
            if (failure != null) {
                throw new IllegalStateException("trace replay of " + file + " failed: " + failure.getMessage(), failure);
            }
        } catch (InterruptedException e) {
            gate.unlock();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the trace player", e);
        } catch (RuntimeException e) {
            gate.unlock();
            throw e;
        }
        long stopNanos = System.nanoTime() - begin;
        appliedAtStun.add(applied);
        return new SourceStun("guest", stopNanos) {
            @Override
            public BitSet harvestDirty() {
                requireOpen();
                BitSet harvested = (BitSet) dirty.clone();
                dirty.clear();
                if (firstHarvest) {
                    firstHarvest = false;
                    harvested.set(0, header.pageCount());
                }
                return harvested;
            }

            @Override
            public byte[] deviceState() {
                requireOpen();
                return deviceState.clone();
            }

            @Override
            protected void release() {
                stunsEnded++;
                progress.signalAll();
                gate.unlock();
            }
        };
    }

    @Override
    public void copyPage(int page, MemorySegment dst, long dstOffset) {
        MemorySegment.copy(memory, (long) page * header.pageSize(), dst, dstOffset, header.pageSize());
    }

    @Override
    public void close() {
        closed = true;
        Thread running;
        synchronized (this) {
            running = player;
        }
        if (running != null) {
            running.interrupt();
            try {
                running.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            reader.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            arena.close();
        }
    }

    /** The player: reads each epoch (outside the gate), waits for its turn, applies it. */
    private void play() {
        long startNanos = System.nanoTime();
        long firstOffset = -1;
        try {
            TraceEpoch epoch;
            while (!closed && (epoch = reader.next()) != null) {
                if (firstOffset < 0) {
                    firstOffset = epoch.offsetNanos();
                }
                if (speed == Speed.REALTIME) {
                    long due = startNanos + epoch.offsetNanos() - firstOffset;
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        TimeUnit.NANOSECONDS.sleep(wait);
                    }
                }
                gate.lockInterruptibly();
                try {
                    while (speed == Speed.MAX && stunsEnded < applied) {
                        progress.await();
                    }
                    epoch.applyTo(memory, header.pageSize());
                    dirty.or(epoch.dirty());
                    deviceState = epoch.deviceState();
                    recordedDigests.add(epoch.digest());
                    applied++;
                    progress.signalAll();
                } finally {
                    gate.unlock();
                }
            }
            finish(null);
        } catch (InterruptedException e) {
            finish(null);
        } catch (IOException | RuntimeException e) {
            finish(e);
        }
    }

    private void finish(Throwable problem) {
        gate.lock();
        try {
            ended = true;
            failure = problem;
            progress.signalAll();
        } finally {
            gate.unlock();
        }
    }
}
