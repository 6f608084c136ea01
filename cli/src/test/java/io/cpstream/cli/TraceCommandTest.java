package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code trace record}, {@code trace info} and {@code bench --source trace:...} as a user runs them. */
class TraceCommandTest {


    @TempDir
    Path dir;

    @Test
    void recordDescribeAndBenchATrace() throws Exception {
        Path trace = dir.resolve("sim.cpt");
        JsonNode recorded = json(CliRun.of("trace", "record", "--source", "sim:mem=4m,rate=20000", "--epoch-ms", "5",
                "--epochs", "12", "--out", trace.toString(), "--json"));
        assertEquals(12, recorded.get("epochs").asInt());
        assertEquals(Files.size(trace), recorded.get("file_bytes").asLong());

        JsonNode info = json(CliRun.of("trace", "info", trace.toString(), "--json"));
        assertEquals(12, info.get("epochs").asInt());
        assertEquals(1024, info.get("page_count").asInt());
        assertEquals("sim:mem=4m,rate=20000", info.get("metadata").get("source").asText());
        assertEquals(64, info.get("final_sha256").asText().length());

        JsonNode bench = json(CliRun.of("bench", "--source", "trace:file=" + trace, "--warmup-epochs", "1", "--seconds", "120",
                "--json"));
        assertTrue(bench.get("seconds_measured").asDouble() < 120, "the bench stopped at the end of the trace");
        assertTrue(bench.get("checkpoints_per_s").asDouble() > 0, bench.toString());
    }

    /** The guests of the KVM backend, on the emulated CPU: recorded like any other source (skips without libunicorn2). */
    @Test
    void recordAnEmulatedGuest() throws Exception {
        var unavailable = io.cpstream.tracker.kvm.KvmSource.emuUnavailableReason();
        unavailable.ifPresent(reason -> System.out.println("skipping emu trace test: " + reason));
        org.junit.jupiter.api.Assumptions.assumeTrue(unavailable.isEmpty(), () -> unavailable.orElse(""));
        Path trace = dir.resolve("emu.cpt");
        String source = "emu:guest=memtouch,mem=4m,pages=8,stride=3";
        JsonNode recorded = json(CliRun.of("trace", "record", "--source", source, "--epoch-ms", "5", "--epochs", "8",
                "--out", trace.toString(), "--json"));
        assertEquals(8, recorded.get("epochs").asInt());
        JsonNode info = json(CliRun.of("trace", "info", trace.toString(), "--json"));
        assertEquals(1024, info.get("page_count").asInt());
        assertEquals(source, info.get("metadata").get("source").asText());
    }

    @Test
    void badInvocationsSayWhatToDo() {
        CliRun neither = CliRun.of("trace", "record", "--out", dir.resolve("x.cpt").toString());
        assertNotEquals(0, neither.code());
        assertTrue(neither.err().contains("--pid"), neither.err());
        CliRun notATrace = CliRun.of("trace", "info", dir.resolve("absent.cpt").toString());
        assertNotEquals(0, notATrace.code());
    }

    private static JsonNode json(CliRun result) throws Exception {
        assertEquals(0, result.code(), result.err());
        return result.json();
    }
}
