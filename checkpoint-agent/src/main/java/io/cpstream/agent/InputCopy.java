package io.cpstream.agent;

import io.cpstream.snapshot.DurableFiles;
import io.cpstream.tracker.replay.JournalFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The primary's own copy of every input its guest got ({@code agent --record-inputs FILE}), from where the agent
 * started recording (a freshly booted guest: port access 0), in the {@link JournalFile} form as the inputs are taken.
 * Booted again and fed it, the guest re-runs the primary's execution: what {@code cpstream replay --boot} does, and how
 * {@code chaos --protect replay} knows the primary's memory at the last input its standby acknowledged. Not forced:
 * it serves analysis, and the page cache outlives a crash of the agent.
 */
final class InputCopy implements AutoCloseable {

    private final Path file;
    private final FileChannel channel;

    InputCopy(Path file) {
        this.file = file;
        try {
            this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING);
            DurableFiles.writeFully(channel, JournalFile.header());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the input copy " + file + ": " + e.getMessage(), e);
        }
    }

    /** Appends the inputs of port accesses [{@code from}, {@code end}). */
    void append(long from, long end, byte[] events) {
        try {
            DurableFiles.writeFully(channel, JournalFile.record(from, end, events));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append to the input copy " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
