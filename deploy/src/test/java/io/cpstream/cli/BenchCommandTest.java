package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code bench --compare-encoders --compare-modes --json}: one JSON object as the last line, with the pipeline's
 * fields, the pipeline in both modes, and every encoder over the same captured checkpoints.
 */
class BenchCommandTest {

    @Test
    void comparesEncodersAndModesInOneRun() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream stdout = System.out;
        int code;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            code = Main.run("bench", "--source", "sim:mem=4m,rate=20000,workload=sparse", "--seconds", "2",
                    "--warmup-seconds", "1", "--compare-encoders", "--compare-modes", "--json");
        } finally {
            System.setOut(stdout);
        }
        assertEquals(0, code, out.toString(StandardCharsets.UTF_8));
        String[] lines = out.toString(StandardCharsets.UTF_8).strip().split("\n");
        JsonNode result = new ObjectMapper().readTree(lines[lines.length - 1]);

        for (String field : List.of("checkpoints_per_s", "pause_ms_p99", "lag_ms_p99", "dirty_pages_per_epoch",
                "wire_bytes_per_dirty_page", "wire_mb_per_s")) {
            assertTrue(result.has(field), "missing " + field);
            assertTrue(result.get("modes").get("full").has(field), "modes.full misses " + field);
            assertTrue(result.get("modes").get("cpstream").has(field), "modes.cpstream misses " + field);
        }
        assertEquals(4096.0, result.get("modes").get("full").get("wire_bytes_per_dirty_page").asDouble(),
                "full-page mode sends every page whole");

        JsonNode encoders = result.get("encoders");
        assertEquals(200, result.get("encoders_checkpoints").asInt());
        for (String name : List.of("raw", "lz4", "xbzrle", "cpstream")) {
            for (String field : List.of("wire_bytes", "bytes_per_dirty_page", "encode_mb_per_s", "decode_mb_per_s")) {
                assertTrue(encoders.get(name).get(field).asDouble() > 0, name + "." + field);
            }
        }
        long dirtyPages = result.get("encoders_dirty_pages").asLong();
        assertEquals(4096L * dirtyPages, encoders.get("raw").get("wire_bytes").asLong(), "raw is every page whole");
        // Sparse word writes: every write after the full sync is a small delta for cpstream; XBZRLE's first
        // write of each page after the sync is a whole page.
        assertTrue(encoders.get("cpstream").get("wire_bytes").asLong() * 2 < encoders.get("xbzrle").get("wire_bytes")
                .asLong(), encoders.toString());
    }
}
