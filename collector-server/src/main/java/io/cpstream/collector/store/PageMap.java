package io.cpstream.collector.store;

import io.cpstream.snapshot.DurableFiles;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Which pages of a standby are held in the collector's {@link SharedPages}: {@code shared.map}, a little-endian u32 per
 * page, 0 for a page held in the standby's own {@code image.mem} (a hole there: a zero page), else 1 + the slot.
 * Sparse and mapped like the image; changed only where the image is, while a sealed journal is applied, so that a
 * crash leaves it exactly as replayable as the image (a replay sets every page of the journal again).
 */
final class PageMap implements AutoCloseable {

    static final String FILE = "shared.map";
    private static final ValueLayout.OfInt ENTRY = ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    private final Arena arena = Arena.ofShared();
    private final FileChannel channel;
    private final MemorySegment entries;
    private final long pageCount;

    private PageMap(Path file, long pageCount, boolean create) throws IOException {
        this.pageCount = pageCount;
        this.channel = DurableFiles.openPrivate(file);
        try {
            long bytes = 4 * pageCount;
            if (create) {
                channel.truncate(0);
                channel.write(java.nio.ByteBuffer.allocate(1), bytes - 1);
            } else if (channel.size() != bytes) {
                throw new IOException(file + " is " + channel.size() + " bytes; the guest's " + pageCount
                        + " pages need " + bytes);
            }
            this.entries = channel.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
        } catch (IOException | RuntimeException e) {
            channel.close();
            arena.close();
            throw e;
        }
    }

    /** A map of no shared page, replacing any file a creation that died halfway left. */
    static PageMap create(Path directory, long pageCount) throws IOException {
        return new PageMap(directory.resolve(FILE), pageCount, true);
    }

    static PageMap open(Path directory, long pageCount) throws IOException {
        return new PageMap(directory.resolve(FILE), pageCount, false);
    }

    static boolean exists(Path directory) {
        return Files.isRegularFile(directory.resolve(FILE));
    }

    /** The slot page {@code index} is held in, or -1 when the standby's image holds it. */
    int slot(long index) {
        return entries.get(ENTRY, 4 * index) - 1;
    }

    void set(long index, int slot) {
        entries.set(ENTRY, 4 * index, slot + 1);
    }

    long pageCount() {
        return pageCount;
    }

    void force() {
        entries.force();
    }

    @Override
    public void close() throws IOException {
        try {
            channel.close();
        } finally {
            arena.close();
        }
    }
}
