package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code trace record}, {@code trace info} and {@code bench --source trace:...} as a user runs them. */
class TraceCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void recordDescribeAndBenchATrace() throws Exception {
        Path trace = dir.resolve("sim.cpt");
        JsonNode recorded = json(cli("trace", "record", "--source", "sim:mem=4m,rate=20000", "--epoch-ms", "5",
                "--epochs", "12", "--out", trace.toString(), "--json"));
        assertEquals(12, recorded.get("epochs").asInt());
        assertEquals(Files.size(trace), recorded.get("file_bytes").asLong());

        JsonNode info = json(cli("trace", "info", trace.toString(), "--json"));
        assertEquals(12, info.get("epochs").asInt());
        assertEquals(1024, info.get("page_count").asInt());
        assertEquals("sim:mem=4m,rate=20000", info.get("metadata").get("source").asText());
        assertEquals(64, info.get("final_sha256").asText().length());

        JsonNode bench = json(cli("bench", "--source", "trace:file=" + trace, "--warmup-epochs", "1", "--seconds", "120",
                "--json"));
        assertTrue(bench.get("seconds").asDouble() < 120, "the bench stopped at the end of the trace");
        assertTrue(bench.get("checkpoints_per_s").asDouble() > 0, bench.toString());
    }

    @Test
    void badInvocationsSayWhatToDo() {
        Result neither = cli("trace", "record", "--out", dir.resolve("x.cpt").toString());
        assertNotEquals(0, neither.code());
        assertTrue(neither.err().contains("--pid"), neither.err());
        Result notATrace = cli("trace", "info", dir.resolve("absent.cpt").toString());
        assertNotEquals(0, notATrace.code());
    }

    private record Result(int code, String out, String err) {
    }

    private static JsonNode json(Result result) throws Exception {
        assertEquals(0, result.code(), result.err());
        String[] lines = result.out().strip().split("\n");
        return JSON.readTree(lines[lines.length - 1]);
    }

    private static synchronized Result cli(String... args) {
        PrintStream stdout = System.out;
        PrintStream stderr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.run(args);
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(stdout);
            System.setErr(stderr);
        }
    }
}
