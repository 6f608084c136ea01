package io.cpstream.agent.output;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One {@link OutputLog} serves every client thread of a receiver. Requests that meet (two primaries opening and
 * writing at once) must each wait their turn: a JVM refuses a second lock of one file from another thread with
 * OverlappingFileLockException, which once made the receiver drop a client mid-request.
 */
class OutputLogConcurrencyTest {

    @TempDir
    Path dir;

    @Test
    void threadsSharingOneLogTakeTurnsAndLoseNothing() throws Exception {
        int threads = 4;
        int writes = 200;
        try (OutputLog log = new OutputLog(dir.resolve("released.log"));
             ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            CyclicBarrier start = new CyclicBarrier(threads);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                String vm = "vm-" + t;
                done.add(pool.submit(() -> {
                    start.await();
                    long next = Math.max(0, log.open(vm, 1));
                    for (int i = 0; i < writes; i++) {
                        log.open(vm, 1); // a reconnecting primary re-opens between writes
                        log.write(vm, 1, next++, List.of(("record " + i).getBytes(StandardCharsets.US_ASCII)));
                    }
                    return null;
                }));
            }
            for (Future<?> future : done) {
                future.get(); // an OverlappingFileLockException fails here
            }
        }
        for (int t = 0; t < threads; t++) {
            List<OutputLog.Record> records = OutputLog.read(dir.resolve("released.log"), "vm-" + t);
            assertEquals(writes, records.size(), "vm-" + t);
            for (int i = 0; i < writes; i++) {
                assertEquals(i, records.get(i).index());
            }
        }
    }
}
