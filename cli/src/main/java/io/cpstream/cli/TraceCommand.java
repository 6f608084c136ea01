package io.cpstream.cli;

import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.process.ProcessSource;
import io.cpstream.tracker.trace.TraceEpoch;
import io.cpstream.tracker.trace.TraceReader;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.harness.bench.Figures;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cpstream trace record|info}: recordings of real guests that {@code trace:FILE} replays. */
@Command(name = "trace", mixinStandardHelpOptions = true,
        description = "Record a guest's memory behaviour into a trace file, or describe one.",
        subcommands = {TraceCommand.Record.class, TraceCommand.Info.class})
final class TraceCommand implements Runnable {

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "record", mixinStandardHelpOptions = true,
            description = "Checkpoint a running process (or any source) every epoch and write each epoch's changed pages, "
                    + "timing and image SHA-256 to a trace (format: dirty-tracker/TRACE-FORMAT.md).")
    static final class Record implements Callable<Integer> {

        @Option(names = "--pid", description = "Process to record (needs ptrace-level permission, e.g. root)")
        Integer pid;

        @Option(names = "--source", description = "Any source spec instead of --pid, e.g. sim:mem=64m,workload=zipf")
        String source;

        @Option(names = "--max", description = "Guest page space for a process: the most writable memory it may reach "
                + "(default: twice its writable memory now, at least 256m)")
        String max;

        @Option(names = "--shared", description = "Also record the process's shared writable mappings (e.g. PostgreSQL's "
                + "shared buffers); other processes writing them are not stopped")
        boolean shared;

        @Option(names = "--epoch-ms", defaultValue = "100", description = "Time between two stuns (default: ${DEFAULT-VALUE})")
        long epochMillis;

        @Option(names = "--epochs", defaultValue = "100", description = "Epochs to record (default: ${DEFAULT-VALUE})")
        int epochs;

        @Option(names = "--out", required = true, description = "Trace file to write")
        Path out;

        @Option(names = "--json", description = "Print one JSON object as the last line")
        boolean json;

        @Override
        public Integer call() throws Exception {
            if ((pid == null) == (source == null)) {
                throw new Errors.UserError("give exactly one of --pid PID and --source SPEC");
            }
            if (epochs < 1 || epochMillis < 1) {
                throw new Errors.UserError("--epochs and --epoch-ms must be at least 1");
            }
            String spec = source != null ? source
                    : "process:pid=" + pid + (max == null ? "" : ",max=" + max) + (shared ? ",shared=true" : "");
            if (source != null && (max != null || shared)) {
                throw new Errors.UserError("--max and --shared go with --pid; put them into the --source spec instead");
            }
            Map<String, String> metadata = new LinkedHashMap<>();
            metadata.put("source", spec);
            metadata.put("epoch_ms", Long.toString(epochMillis));
            metadata.put("recorded_at", Instant.now().toString());
            metadata.put("host", InetAddress.getLocalHost().getHostName());
            if (pid != null) {
                metadata.put("command", commandLine(pid));
            }
            long[] stop = new long[epochs];
            long[] pause = new long[epochs];
            long[] dirty = new long[epochs];
            long[] scanned = new long[epochs];
            long[] scanNanos = new long[epochs];
            long started = System.nanoTime();
            try (MemorySource guest = MemorySources.open(spec)) {
                ProcessSource process = guest instanceof ProcessSource p ? p : null;
                System.out.printf("cpstream trace record: %s, %d MiB guest page space, %d epochs of %d ms -> %s%n", spec,
                        guest.memoryBytes() >> 20, epochs, epochMillis, out);
                io.cpstream.tracker.trace.TraceRecorder.record(guest, out, Duration.ofMillis(epochMillis), epochs, metadata,
                        (epoch, dirtyPages, stopNanos, pauseNanos) -> {
                            int i = (int) epoch - 1;
                            stop[i] = stopNanos;
                            pause[i] = pauseNanos;
                            dirty[i] = dirtyPages;
                            if (process != null) {
                                scanned[i] = process.lastScan().readBytes();
                                scanNanos[i] = process.lastScan().nanos();
                            }
                            if (!json && (epoch % Math.max(1, epochs / 10) == 0 || epoch == epochs)) {
                                System.out.printf("epoch %5d  %7d dirty pages  stop %7.3f ms  pause %8.3f ms%n", epoch,
                                        dirtyPages, stopNanos / 1e6, pauseNanos / 1e6);
                            }
                        });
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("out", out.toString());
            result.put("source", spec);
            result.put("epochs", epochs);
            result.put("seconds", Figures.round(seconds));
            result.put("file_bytes", Files.size(out));
            // Epoch 1 carries every page; the steady state is what the others show.
            long[] steadyDirty = Arrays.copyOfRange(dirty, Math.min(1, epochs - 1), epochs);
            result.put("dirty_pages_per_epoch", Figures.round(Arrays.stream(steadyDirty).average().orElse(0)));
            result.put("stop_ms_p50", millis(percentile(stop, 50)));
            result.put("stop_ms_p99", millis(percentile(stop, 99)));
            result.put("pause_ms_p50", millis(percentile(pause, 50)));
            result.put("pause_ms_p99", millis(percentile(pause, 99)));
            if (pid != null) {
                double bytes = Arrays.stream(scanned).sum();
                double nanos = Arrays.stream(scanNanos).sum();
                result.put("scanned_mb_per_epoch", Figures.round(bytes / epochs / 1e6));
                result.put("scan_mb_per_s", Figures.round(nanos == 0 ? 0 : bytes / 1e6 / (nanos / 1e9)));
            }
            if (json) {
                Json.print(System.out, result);
            } else {
                result.forEach((k, v) -> System.out.printf("%-24s %s%n", k, v));
            }
            return 0;
        }

        private static String commandLine(int pid) {
            try {
                byte[] raw = Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "cmdline"));
                return new String(raw, java.nio.charset.StandardCharsets.UTF_8).replace('\0', ' ').trim();
            } catch (java.io.IOException e) {
                return "";
            }
        }
    }

    @Command(name = "info", mixinStandardHelpOptions = true, description = "Describe a trace file and check it end to end.")
    static final class Info implements Callable<Integer> {

        @Parameters(index = "0", description = "Trace file")
        Path file;

        @Option(names = "--json", description = "Print one JSON object as the last line")
        boolean json;

        @Override
        public Integer call() throws Exception {
            Map<String, Object> result = new LinkedHashMap<>();
            try (TraceReader reader = new TraceReader(file)) {
                result.put("file", file.toString());
                result.put("file_bytes", Files.size(file));
                result.put("version", reader.header().version());
                result.put("page_size", reader.header().pageSize());
                result.put("page_count", reader.header().pageCount());
                result.put("metadata", reader.header().metadata());
                long dirty = 0;
                long dataPages = 0;
                long lastOffset = 0;
                byte[] digest = null;
                for (TraceEpoch epoch; (epoch = reader.next()) != null; ) {
                    if (epoch.epoch() > 1) {
                        dirty += epoch.dirty().cardinality();
                    }
                    dataPages += epoch.data().byteSize() / reader.header().pageSize();
                    lastOffset = epoch.offsetNanos();
                    digest = epoch.digest();
                }
                long epochs = reader.epochs();
                result.put("epochs", epochs);
                result.put("recorded_seconds", Figures.round(lastOffset / 1e9));
                result.put("dirty_pages_per_epoch", Figures.round(epochs > 1 ? dirty / (double) (epochs - 1) : 0));
                result.put("raw_page_bytes", dataPages * reader.header().pageSize());
                result.put("final_sha256", digest == null ? null : ImageDigest.hex(digest));
            }
            if (json) {
                Json.print(System.out, result);
            } else {
                result.forEach((k, v) -> System.out.printf("%-22s %s%n", k, v));
            }
            return 0;
        }
    }

    private static long percentile(long[] values, double p) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[(int) Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)];
    }

    private static double millis(long nanos) {
        return Figures.round(nanos / 1e6);
    }
}
