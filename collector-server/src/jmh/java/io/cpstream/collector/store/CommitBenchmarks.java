package io.cpstream.collector.store;

import io.cpstream.snapshot.CommittedOutputs;
import io.cpstream.snapshot.DurableFiles;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * What a standby's commit costs on this host's file system, with durability none (the default): the whole commit of
 * a small checkpoint as {@link ImageStore} runs it, and its last step both ways in the same run, the commit log's
 * append against what every commit did before it (replace {@code state.bin} and {@code manifest.json}: create,
 * write, rename, twice). Files in {@code java.io.tmpdir}, which must be on the file system the data directory would
 * be on for the figures to mean anything.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class CommitBenchmarks {

    private static final int PAGE = 4096;
    private static final int PAGES = 4096; // a 16 MiB guest, as in bench --vms

    /** Pages per checkpoint: what a 16 MiB sim VM at rate=500 and 50 ms epochs sends, and ten times that. */
    @Param({"25", "250"})
    public int pagesPerCheckpoint;

    private Path directory;
    private ImageStore store;
    private CommitLog log;
    private StandbyManifest manifest;
    private CommittedState state;
    private final MemorySegment page = MemorySegment.ofArray(new byte[PAGE]);
    private final Random random = new Random(1);
    private long epoch;

    @Setup(Level.Trial)
    public void open() throws IOException {
        directory = Files.createTempDirectory("cpstream-commit-bench-");
        store = ImageStore.create(directory.resolve("store"), StandbyManifest.fresh("vm", PAGE, PAGES, 0, "sim",
                Map.of()), Durability.NONE);
        epoch = 1;
        store.begin(epoch, 0, true, 1);
        for (int i = 0; i < PAGES; i++) {
            store.stagePage(i, page);
        }
        state = new CommittedState(epoch, new byte[512], CommittedOutputs.NONE, new byte[32]);
        store.stageState(state);
        store.commit(epoch);
        Files.createDirectories(directory.resolve("meta"));
        log = new CommitLog(directory.resolve("meta"), false);
        log.reset(0, state);
        manifest = store.manifest();
    }

    @TearDown(Level.Trial)
    public void close() throws IOException {
        store.close();
        DurableFiles.deleteRecursively(directory);
    }

    /** The whole commit of one incremental checkpoint: begin, stage its pages and state, seal, apply, record. */
    @Benchmark
    public long commit() throws IOException {
        long next = epoch + 1;
        store.begin(next, epoch, false, next);
        for (int i = 0; i < pagesPerCheckpoint; i++) {
            page.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0, random.nextLong());
            store.stagePage(random.nextInt(PAGES), page);
        }
        store.stageState(state.atEpoch(next));
        store.commit(next);
        epoch = next;
        return epoch;
    }

    /** The commit's last step now: one record appended to the commit log. */
    @Benchmark
    public void recordByCommitLog() throws IOException {
        log.append(epoch, state);
    }

    /** The same step as every commit did it before the commit log: two files replaced by rename. */
    @Benchmark
    public void recordByReplacingStateAndManifest() throws IOException {
        DurableFiles.replace(directory.resolve("meta").resolve(ImageStore.STATE), state.encode(), false);
        manifest.write(directory.resolve("meta").resolve(ImageStore.MANIFEST), false);
    }
}
