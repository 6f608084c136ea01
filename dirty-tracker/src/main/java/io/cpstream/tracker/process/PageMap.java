package io.cpstream.tracker.process;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * {@code /proc/PID/pagemap}: for each virtual page, whether it is in memory or in swap. A private
 * anonymous page that is neither has never been written (or was discarded) and reads as zero, so the
 * scan can skip it without reading, and without faulting it in.
 */
final class PageMap implements AutoCloseable {

    private static final long PRESENT = 1L << 63;
    private static final long SWAPPED = 1L << 62;

    private final int pid;
    private final FileChannel channel;
    private ByteBuffer entries = ByteBuffer.allocateDirect(8 * 256).order(ByteOrder.nativeOrder());

    PageMap(int pid) {
        this.pid = pid;
        try {
            this.channel = FileChannel.open(Path.of("/proc", Integer.toString(pid), "pagemap"), StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new ProcessGoneException(pid);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open /proc/" + pid + "/pagemap", e);
        }
    }

    /**
     * Sets {@code backed[i]} to whether page {@code i} of {@code pages} pages from {@code address} is in
     * memory or swap.
     */
    void backed(long address, int pages, int pageSize, boolean[] backed) {
        if (entries.capacity() < pages * 8) {
            entries = ByteBuffer.allocateDirect(pages * 8).order(ByteOrder.nativeOrder());
        }
        entries.clear().limit(pages * 8);
        long position = address / pageSize * 8;
        try {
            while (entries.hasRemaining()) {
                if (channel.read(entries, position + entries.position()) < 0) {
                    throw new ProcessGoneException(pid);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read /proc/" + pid + "/pagemap", e);
        }
        for (int i = 0; i < pages; i++) {
            backed[i] = (entries.getLong(i * 8) & (PRESENT | SWAPPED)) != 0;
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // nothing to keep
        }
    }
}
