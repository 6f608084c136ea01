package io.cpstream.collector.store;

import io.cpstream.snapshot.DurableFiles;
import io.cpstream.tracker.replay.EventLog;
import io.cpstream.tracker.replay.InputEvents;
import io.cpstream.tracker.replay.JournalFile;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * The journaled event log of one VM under record/replay protection: the inputs its guest got since (at most) its
 * committed checkpoint, durably on disk before they are acknowledged. An output the agent released may depend on
 * any of them, so a promotion replays all of them.
 *
 * <p>File {@code events.journal}, a {@link JournalFile}. A torn last record (a crash while appending, never
 * acknowledged) is dropped on open; any other damage refuses the journal, which then starts empty: the standby can no
 * longer replay, and says so at promotion.
 *
 * <p>An acknowledged chunk survives what the standby's {@link Durability} promises of an acknowledged epoch: with
 * {@code FSYNC} it is forced before the acknowledgement; with {@code NONE} it is in the page cache, which outlives a
 * crash of the collector process. A crash of the host leaves such a standby needing a full sync, promotable by no one,
 * so forcing its journal would buy nothing but the wait.
 */
public final class EventJournal implements AutoCloseable {

    /** What one VM's journal may hold; beyond it the agent must checkpoint (which truncates it) before more comes. */
    public static final long MAX_BYTES = 64L << 20;

    private final Path file;
    private final Durability durability;
    private FileChannel channel;
    private long from;
    private long end;
    private ByteArrayOutputStream events = new ByteArrayOutputStream();
    /** True when the journal holds a log (possibly empty) from {@link #from()}; false before the first chunk. */
    private boolean started;

    private EventJournal(Path file, Durability durability) {
        this.file = file;
        this.durability = durability;
    }

    /** Opens (or creates) the journal in {@code directory}; a damaged one is set aside and a fresh one started. */
    public static EventJournal open(Path directory, Durability durability) throws IOException {
        EventJournal journal = new EventJournal(directory.resolve("events.journal"), durability);
        if (Files.exists(journal.file)) {
            try {
                journal.load(Files.readAllBytes(journal.file));
            } catch (IllegalArgumentException e) {
                System.getLogger(EventJournal.class.getName()).log(System.Logger.Level.ERROR,
                        "event journal {0} is damaged ({1}); starting a new one", journal.file, e.getMessage());
                Files.move(journal.file, journal.file.resolveSibling("events.journal.damaged"),
                        StandardCopyOption.REPLACE_EXISTING);
                journal.reset();
            }
        }
        journal.rewrite();
        return journal;
    }

    private void load(byte[] bytes) {
        JournalFile.read(bytes).ifPresent(log -> {
            from = log.from();
            end = log.end();
            events.writeBytes(log.events());
            started = true;
        });
    }

    private void reset() {
        started = false;
        from = end = 0;
        events = new ByteArrayOutputStream();
    }

    /** The log covers inputs of port accesses below this; 0 while it holds none. */
    public synchronized long end() {
        return started ? end : 0;
    }

    public synchronized long from() {
        return from;
    }

    public synchronized boolean started() {
        return started;
    }

    /** Bytes of events held. */
    public synchronized long bytes() {
        return events.size();
    }

    /** What the journal holds, read at one moment: the inputs of port accesses [from, end), in this many bytes. */
    public record Extent(long from, long end, long bytes) {
    }

    /** The journal's {@link Extent}, or empty while it holds no log. */
    public synchronized java.util.Optional<Extent> extent() {
        return started ? java.util.Optional.of(new Extent(from, end, events.size())) : java.util.Optional.empty();
    }

    /**
     * Appends a chunk durably. {@code restart} drops what is held and starts at {@code chunkFrom}; otherwise the
     * chunk must continue the log. Then drops events below {@code truncateBelow} (never past the end).
     *
     * @throws IllegalArgumentException the chunk does not fit (the log is untouched)
     * @throws IllegalStateException    the journal would exceed {@link #MAX_BYTES}
     */
    public synchronized void append(long chunkFrom, long chunkEnd, byte[] chunk, boolean restart, long truncateBelow)
            throws IOException {
        InputEvents.check(chunk, chunkFrom, chunkEnd);
        if (!restart && started && chunkFrom != end) {
            throw new IllegalArgumentException("event log chunk starts at port access " + chunkFrom
                    + " but the journal ends at " + end + " (restart the log to start elsewhere)");
        }
        if (!restart && !started) {
            throw new IllegalArgumentException("the first event log chunk of a journal must restart the log");
        }
        if (!restart && truncateBelow > from && truncateBelow <= end && events.size() + chunk.length > MAX_BYTES) {
            // What a committed checkpoint made unneeded is dropped first: room is refused only to inputs that are not.
            dropBelow(truncateBelow);
        }
        long keptBytes = restart ? 0 : events.size();
        if (keptBytes + chunk.length > MAX_BYTES) {
            throw new IllegalStateException("the event journal would hold " + (keptBytes + chunk.length)
                    + " bytes, more than " + MAX_BYTES + ": checkpoint more often");
        }
        if (restart) {
            reset();
            from = chunkFrom;
            started = true;
            end = chunkFrom;
            rewrite();
        }
        DurableFiles.writeFully(channel, JournalFile.record(chunkFrom, chunkEnd, chunk));
        if (durability.durable()) {
            channel.force(false);
        }
        events.writeBytes(chunk);
        end = chunkEnd;
        if (truncateBelow > from && truncateBelow <= end) {
            truncate(truncateBelow);
        }
    }

    /** Drops the events below {@code ordinal} (a checkpoint taken there is committed), once that is worth a rewrite. */
    private void truncate(long ordinal) throws IOException {
        if (events.size() < (1 << 20)) {
            // Under 1 MiB nothing can be worth a rewrite (below). Deciding that by copying the events out twice cost
            // 220 MB/s of garbage at 500 inputs/s (bench --compare-protect), a ZGC cycle every 1.5-2 s.
            return;
        }
        byte[] kept = InputEvents.from(events.toByteArray(), ordinal);
        // Rewriting costs the kept tail; do it only once the dropped part is worth it.
        if (events.size() - kept.length < (1 << 20) && events.size() < (8 << 20)) {
            return;
        }
        replaceWith(ordinal, kept);
    }

    /** Drops the events below {@code ordinal} now. */
    private void dropBelow(long ordinal) throws IOException {
        replaceWith(ordinal, InputEvents.from(events.toByteArray(), ordinal));
    }

    private void replaceWith(long newFrom, byte[] kept) throws IOException {
        events = new ByteArrayOutputStream();
        events.writeBytes(kept);
        from = newFrom;
        rewrite();
    }

    /** The journal as an event log (from at most the committed checkpoint's port access: replay cuts it there). */
    public synchronized EventLog log() {
        return new EventLog(from, end, events.toByteArray());
    }

    /** Writes the whole journal as one record into a new file, forced, renamed over the old one. */
    private void rewrite() throws IOException {
        if (channel != null) {
            channel.close();
        }
        Path tmp = file.resolveSibling("events.journal.tmp");
        byte[] body = events.toByteArray();
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            DurableFiles.writeFully(out, JournalFile.header());
            if (started) {
                DurableFiles.writeFully(out, JournalFile.record(from, end, body));
            }
            if (durability.durable()) {
                out.force(true);
            }
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    }

    /** Drops everything (the VM is deleted, or a full sync starts a new lineage). */
    public synchronized void clear() throws IOException {
        reset();
        rewrite();
    }

    @Override
    public synchronized void close() throws IOException {
        if (channel != null) {
            channel.close();
            channel = null;
        }
    }

    @Override
    public synchronized String toString() {
        return "event journal [" + from + ", " + end + ") " + events.size() + " bytes" + (started ? "" : " (empty)");
    }
}
