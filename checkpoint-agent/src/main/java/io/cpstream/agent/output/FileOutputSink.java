package io.cpstream.agent.output;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** {@code file:PATH}: releases into an {@link OutputLog} file, which several primaries may share. */
public final class FileOutputSink implements OutputSink {

    private final OutputLog log;
    private String vm;
    private long fencingEpoch = -1;

    public FileOutputSink(Path file) throws IOException {
        this.log = new OutputLog(file);
    }

    @Override
    public long open(String vm, long fencingEpoch) throws IOException {
        long next = log.open(vm, fencingEpoch);
        this.vm = vm;
        this.fencingEpoch = fencingEpoch;
        return next;
    }

    @Override
    public void write(long first, List<byte[]> records) throws IOException {
        if (vm == null) {
            throw new IllegalStateException("write before open");
        }
        log.write(vm, fencingEpoch, first, records);
    }

    @Override
    public void close() throws IOException {
        log.close();
    }

    @Override
    public String toString() {
        return "file:" + log.file();
    }
}
