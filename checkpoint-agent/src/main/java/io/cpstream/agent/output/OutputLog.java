package io.cpstream.agent.output;

import io.cpstream.agent.output.OutputSink.FencedException;
import io.cpstream.agent.output.OutputSink.OutputGapException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The released output of one or more VMs in a plain text file: one line per record,
 * {@code out <vm> <fencing> <index> <hex payload>}, and a line {@code fence <vm> <epoch>} whenever a
 * primary of a higher fencing epoch opens it. Every operation takes an exclusive file lock and reads
 * what other processes appended since, so several primaries (an old one still running, its promoted
 * successor) can share one file and the rules of {@link OutputSink} hold across them. Inside one process, one
 * instance serves every thread (the receiver's clients): each operation also holds its monitor, since a JVM refuses
 * a second lock of one file, from another thread, with {@code OverlappingFileLockException} instead of waiting (the
 * receiver dropped a client that way when two primaries' requests met).
 *
 * <p>This is the storage of the {@code file:} sink and of the {@code cpstream sink} receiver.
 */
public final class OutputLog implements AutoCloseable {

    private static final HexFormat HEX = HexFormat.of();

    private final Path file;
    private final FileChannel channel;
    private final StreamTracker tracker = new StreamTracker();
    private long scanned;
    private final StringBuilder partial = new StringBuilder();

    public OutputLog(Path file) throws IOException {
        this.file = file;
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            java.nio.file.Files.createDirectories(parent);
        }
        this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
    }

    public Path file() {
        return file;
    }

    /** See {@link OutputSink#open}. */
    public synchronized long open(String vm, long fencingEpoch) throws IOException {
        try (FileLock ignored = channel.lock()) {
            catchUp();
            long next = tracker.fence(vm, fencingEpoch);
            if (tracker.recordFenceIfHigher(vm, fencingEpoch)) {
                append("fence " + vm + " " + fencingEpoch + "\n");
            }
            return next;
        }
    }

    /** See {@link OutputSink#write}. */
    public synchronized void write(String vm, long fencingEpoch, long first, List<byte[]> records) throws IOException {
        if (records.isEmpty()) {
            return;
        }
        try (FileLock ignored = channel.lock()) {
            catchUp();
            tracker.checkWrite(vm, fencingEpoch, first);
            StringBuilder lines = new StringBuilder();
            long index = first;
            for (byte[] record : records) {
                lines.append("out ").append(vm).append(' ').append(fencingEpoch).append(' ').append(index++)
                        .append(' ').append(HEX.formatHex(record)).append('\n');
            }
            append(lines.toString());
            tracker.advance(vm, index);
        }
    }

    /** Every record of {@code vm} in the file, in order (for checks and tests). */
    public static List<Record> read(Path file, String vm) throws IOException {
        List<Record> records = new ArrayList<>();
        for (String line : java.nio.file.Files.readAllLines(file, StandardCharsets.US_ASCII)) {
            String[] fields = line.split(" ");
            if (fields.length == 5 && fields[0].equals("out") && fields[1].equals(vm)) {
                records.add(new Record(Long.parseLong(fields[2]), Long.parseLong(fields[3]), HEX.parseHex(fields[4])));
            }
        }
        return records;
    }

    /** One released output as the file holds it. */
    public record Record(long fencingEpoch, long index, byte[] payload) {
    }

    @Override
    public synchronized void close() throws IOException {
        channel.close();
    }

    private void append(String text) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(text.getBytes(StandardCharsets.US_ASCII));
        long position = channel.size();
        while (bytes.hasRemaining()) {
            position += channel.write(bytes, position);
        }
        channel.force(false);
        scanned = position;
    }

    /** Folds in what was appended since the last look (by this or another process). */
    private void catchUp() throws IOException {
        long size = channel.size();
        if (size <= scanned) {
            return;
        }
        ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(size - scanned, 1 << 20));
        while (scanned < size) {
            buffer.clear();
            int read = channel.read(buffer, scanned);
            if (read <= 0) {
                break;
            }
            scanned += read;
            partial.append(new String(buffer.array(), 0, read, StandardCharsets.US_ASCII));
            int newline;
            while ((newline = partial.indexOf("\n")) >= 0) {
                apply(partial.substring(0, newline));
                partial.delete(0, newline + 1);
            }
        }
    }

    private void apply(String line) {
        String[] fields = line.split(" ");
        try {
            if (fields.length == 3 && fields[0].equals("fence")) {
                tracker.recordFenceIfHigher(fields[1], Long.parseLong(fields[2]));
            } else if (fields.length == 5 && fields[0].equals("out")) {
                tracker.recordFenceIfHigher(fields[1], Long.parseLong(fields[2]));
                tracker.advance(fields[1], Long.parseLong(fields[3]) + 1);
            } else {
                throw new IOException("unreadable line in " + file + ": " + line);
            }
        } catch (IOException | NumberFormatException e) {
            throw new UncheckedIOException(new IOException("unreadable line in " + file + ": " + line, e));
        }
    }

    /** Per VM: the highest fencing epoch seen and the next index expected. */
    static final class StreamTracker {
        private final java.util.Map<String, long[]> streams = new java.util.HashMap<>();

        private long[] of(String vm) {
            return streams.computeIfAbsent(vm, k -> new long[] {-1, OutputSink.NO_HISTORY});
        }

        /** Checks that a primary at {@code fencing} may act; returns the next index expected. */
        long fence(String vm, long fencing) throws FencedException {
            long[] state = of(vm);
            if (fencing < state[0]) {
                throw new FencedException("vm " + vm + ": a primary with fencing epoch " + state[0]
                        + " took over; this one (fencing epoch " + fencing + ") must not release output");
            }
            return state[1];
        }

        boolean recordFenceIfHigher(String vm, long fencing) {
            long[] state = of(vm);
            if (fencing > state[0]) {
                state[0] = fencing;
                return true;
            }
            return false;
        }

        void checkWrite(String vm, long fencing, long first) throws IOException {
            long next = fence(vm, fencing);
            if (next != OutputSink.NO_HISTORY && first != next) {
                throw new OutputGapException(next, first);
            }
            recordFenceIfHigher(vm, fencing);
        }

        void advance(String vm, long next) {
            of(vm)[1] = next;
        }
    }
}
