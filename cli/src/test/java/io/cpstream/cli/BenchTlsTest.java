package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code bench --compare-tls --json}: the pipeline in plaintext and over mutual TLS, in one run. */
class BenchTlsTest {

    /** The figures only: what TLS costs is for a quiet machine and the closing note, not for a test. */
    @Test
    void measuresThePipelineWithAndWithoutTls() throws Exception {
        CliRun run = CliRun.of("bench", "--compare-tls", "--source", "sim:mem=4m,rate=20000", "--seconds", "1",
                "--warmup-epochs", "3", "--verify", "--json");
        assertEquals(0, run.code(), run.err());
        JsonNode result = run.json();
        for (String side : List.of("tls_off", "tls_on")) {
            for (String figure : List.of("checkpoints_per_s", "wire_mb_per_s", "lag_ms_p99")) {
                assertTrue(result.get(side).has(figure), side + " misses " + figure);
            }
        }
        for (String runs : List.of("runs_off", "runs_on")) {
            assertEquals(2, result.get(runs).size());
            for (JsonNode one : result.get(runs)) {
                // Warmed up by epochs (the full sync among them), each verified against the primary's digest.
                assertTrue(one.get("epochs_committed").asLong() >= 3, runs + ": " + one);
                assertEquals(0, one.get("digest_mismatches").asLong(), runs + ": " + one);
                assertEquals(one.get("epochs_committed").asLong(), one.get("digests_verified").asLong(), runs + ": " + one);
            }
        }
        assertTrue(result.has("checkpoints_per_s_ratio") && result.has("wire_mb_per_s_ratio"));
    }
}
