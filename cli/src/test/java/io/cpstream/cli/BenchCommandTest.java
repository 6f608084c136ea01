package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code bench --compare-encoders --compare-modes --json}: one JSON object as the last line, with the pipeline's
 * fields, the pipeline in both modes, and every encoder over the same captured checkpoints.
 */
class BenchCommandTest {

    @Test
    void comparesEncodersAndModesInOneRun() throws Exception {
        JsonNode result = bench("--source", "sim:mem=4m,rate=20000,workload=sparse", "--seconds", "2",
                "--warmup-seconds", "1", "--compare-encoders", "--compare-modes");

        for (String field : List.of("checkpoints_per_s", "pause_ms_p99", "lag_ms_p99", "dirty_pages_per_epoch",
                "wire_bytes_per_dirty_page", "wire_mb_per_s")) {
            assertTrue(result.has(field), "missing " + field);
            assertTrue(result.get("modes").get("full").has(field), "modes.full misses " + field);
            assertTrue(result.get("modes").get("cpstream").has(field), "modes.cpstream misses " + field);
        }
        // --warmup-seconds given: a fixed warm-up, reported beside the compile time left in the window.
        assertTrue(result.has("warmup_s") && result.get("jit_ms_in_window").asLong() >= 0, result.toString());
        double fullPerPage = result.get("modes").get("full").get("wire_bytes_per_dirty_page").asDouble();
        assertTrue(fullPerPage > 4096 && fullPerPage < 4096 * 1.01,
                "full-page mode sends every page whole, and its framing is counted: " + fullPerPage);

        JsonNode encoders = result.get("encoders");
        assertEquals(200, result.get("encoders_checkpoints").asInt());
        for (String name : List.of("raw", "lz4", "xbzrle", "cpstream")) {
            for (String field : List.of("payload_bytes", "wire_bytes", "wire_bytes_per_dirty_page", "encode_mb_per_s",
                    "decode_mb_per_s")) {
                assertTrue(encoders.get(name).get(field).asDouble() > 0, name + "." + field);
            }
        }
        long dirtyPages = result.get("encoders_dirty_pages").asLong();
        assertEquals(4096L * dirtyPages, encoders.get("raw").get("payload_bytes").asLong(), "raw is every page whole");
        assertTrue(encoders.get("raw").get("wire_bytes").asLong() > 4096L * dirtyPages, "framing is counted");
        // QEMU: 8 bytes of header per page, 8 of end-of-section per checkpoint, besides the payloads.
        long xbzrleRecords = 0;
        for (JsonNode count : encoders.get("xbzrle").get("records")) {
            xbzrleRecords += count.asLong();
        }
        assertEquals(dirtyPages, xbzrleRecords);
        assertTrue(encoders.get("xbzrle").get("wire_bytes").asLong()
                >= encoders.get("xbzrle").get("payload_bytes").asLong() + 8 * dirtyPages + 8 * 200, encoders.toString());
        assertTrue(result.get("floor_bytes").asLong() > 0);
        assertTrue(encoders.get("cpstream").get("wire_bytes").asLong() >= result.get("floor_bytes").asLong(),
                "random words: no encoding goes below the floor");
        // Sparse word writes: every write after the full sync is a small delta for cpstream; XBZRLE's first
        // write of each page after the sync is a whole page.
        assertTrue(encoders.get("cpstream").get("wire_bytes").asLong() * 2 < encoders.get("xbzrle").get("wire_bytes")
                .asLong(), encoders.toString());
    }

    /** The figures only: how the pauses compare is for a quiet machine and the closing note, not for a test. */
    @Test
    void comparesCopyAllWithTheHistorySplitDigestsVerified() throws Exception {
        JsonNode result = bench("--compare-stun", "--source",
                "sim:mem=4m,workload=stable,hot-pages=16,hot-share=10,rate=20000", "--epoch-ms", "20", "--seconds", "1",
                "--warmup-seconds", "1");
        for (String split : List.of("copy_all", "history")) {
            JsonNode run = result.get(split);
            for (String field : List.of("pause_ms_p50", "pause_ms_p99", "cow_faults", "checkpoints_per_s")) {
                assertTrue(run.has(field), split + " misses " + field);
            }
            assertEquals(2, run.get("pause_ms_p99_runs").size(), split + " ran twice (copy-all, history, history, copy-all)");
            assertTrue(run.get("digests_verified_every_epoch").asBoolean(), split + ": " + run);
        }
        assertEquals(0, result.get("copy_all").get("deferred_pages_per_epoch").asDouble());
        assertTrue(result.get("history").get("deferred_pages_per_epoch").asDouble() > 0, "stable pages were deferred");
        assertTrue(result.get("digests_verified_every_epoch").asBoolean());
        assertTrue(result.has("pause_p99_ratio"));
    }

    /**
     * Checkpoint, replay and lockstep protection of one emu kv guest under one request load: every released output
     * measured from the guest's OUT to the sink, in each mode, twice each. Figures only: the ratio is for the README.
     */
    @Test
    void comparesCheckpointWithReplayProtectionOnOneGuest() throws Exception {
        java.util.Optional<String> reason = io.cpstream.tracker.kvm.KvmSource.emuUnavailableReason();
        reason.ifPresent(r -> System.out.println("skipping: " + r));
        org.junit.jupiter.api.Assumptions.assumeTrue(reason.isEmpty());
        JsonNode result = bench("--compare-protect", "--source", "emu:guest=kv,mem=8m,slots=64", "--epoch-ms", "50",
                "--seconds", "2", "--warmup-epochs", "3");
        for (String mode : List.of("checkpoint", "replay", "lockstep")) {
            JsonNode run = result.get(mode);
            assertEquals(mode, run.get("protect").asText());
            assertEquals(2, run.get("output_latency_ms_p99_runs").size(), mode + " ran twice (A B B A)");
            assertTrue(run.get("outputs_measured").asDouble() > 0, mode + " released outputs in the window: " + run);
            assertEquals(0, run.get("outputs_without_emit_time").asDouble(), mode + ": every output was stamped");
            double p50 = run.get("output_latency_ms_p50").asDouble();
            assertTrue(p50 > 0 && p50 <= run.get("output_latency_ms_p99").asDouble()
                    && run.get("output_latency_ms_p99").asDouble() <= run.get("output_latency_ms_max").asDouble(), mode
                    + ": " + run);
            assertTrue(run.has("checkpoints_per_s"));
            // The sink's own floor, measured beside each mode: a write the sink took, and one no faster than its median.
            double floor = run.get("sink_floor_ms_p50").asDouble();
            assertTrue(floor > 0 && floor <= run.get("sink_floor_ms_p99").asDouble(), mode + ": " + run);
        }
        // Only replay protection has an input log, and its round trip is reported.
        assertTrue(!result.get("checkpoint").has("event_ack_ms_p99"), result.toPrettyString());
        JsonNode replay = result.get("replay");
        assertTrue(replay.get("event_ack_ms_p50").asDouble() > 0
                && replay.get("event_ack_ms_p50").asDouble() <= replay.get("event_ack_ms_p99").asDouble(), replay.toString());
        assertTrue(result.has("replay_p99_over_checkpoint_p99"));
        assertTrue(result.has("lockstep_p99_over_replay_p99"));
    }

    @Test
    void refusesToCompareProtectionOffTheEmulator() {
        CliRun run = CliRun.of("bench", "--compare-protect", "--source", "sim:mem=4m", "--json");
        assertEquals(1, run.code(), run.err());
        assertTrue(run.err().contains("emu kv"), run.err());
    }

    /** The link's ceiling and the busy-host run beside the pipeline, in one invocation; figures only, no timing. */
    @Test
    void measuresTheLinkAndABusyHostInTheSameRun() throws Exception {
        JsonNode result = bench("--source", "sim:mem=4m,rate=5000,workload=zipf", "--seconds", "2",
                "--warmup-epochs", "5", "--link-baseline", "--cpu-hog");
        // The figures themselves depend on how busy this shared machine is; what they are made of does not.
        for (String field : List.of("link_mb_per_s", "grpc_link_mb_per_s")) {
            assertTrue(result.get(field).asDouble() > 0, field + " in " + result);
        }
        assertEquals(result.get("wire_mb_per_s").asDouble(), result.get("pipeline_mb_per_s").asDouble());
        assertEquals(result.get("wire_mb_per_s").asDouble() / result.get("link_mb_per_s").asDouble(),
                result.get("pipeline_over_link").asDouble(), 0.01, "pipeline_over_link is the pipeline's wire rate over the link's");
        assertTrue(result.has("lag_p99_over_epoch"), result.toString());
        JsonNode hog = result.get("cpu_hog");
        assertEquals(Runtime.getRuntime().availableProcessors(), hog.get("hog_processes").asInt());
        for (String field : List.of("checkpoints_per_s", "lag_ms_p99", "pause_ms_p99", "merged_epochs",
                "checkpoints_over_quiet", "lag_p99_over_epoch")) {
            assertTrue(hog.has(field), "cpu_hog misses " + field);
        }
        double quiet = result.get("checkpoints_per_s").asDouble();
        assertEquals(quiet == 0 ? 0 : hog.get("checkpoints_per_s").asDouble() / quiet,
                hog.get("checkpoints_over_quiet").asDouble(), 0.01);
    }

    /** Several VMs on one collector process, after one alone, in one invocation; figures only, no timing. */
    @Test
    void runsManyVmsOnOneCollectorBesideASingleOne() throws Exception {
        JsonNode result = bench("--vms", "3", "--source", "sim:mem=4m,rate=2000,workload=zipf", "--seconds", "2",
                "--warmup-seconds", "1");
        assertEquals(3, result.get("vms").asInt());
        for (String field : List.of("single_vm_checkpoints_per_s", "single_vm_lag_ms_p50", "single_vm_lag_ms_p99",
                "checkpoints_per_s", "vm_checkpoints_per_s_min", "vm_lag_ms_p50", "vm_lag_ms_p99_median",
                "vm_lag_ms_p99_worst", "lag_p99_over_single", "metrics_scrape_ms_max")) {
            assertTrue(result.has(field), "missing " + field + " in " + result);
        }
        // The collector is a process of its own and its memory is read from it, not from this JVM: the three
        // families the bench asks for by name[] each came through (journal buffers are direct, gRPC's are Netty's).
        assertTrue(result.get("collector_rss_mb").asDouble() > 10, result.toString());
        assertTrue(result.get("collector_heap_mb").asDouble() > 0, result.toString());
        assertTrue(result.get("collector_direct_mb").asDouble() > 0, result.toString());
        assertTrue(result.get("collector_netty_direct_mb").asDouble() > 0, result.toString());
        // The whole page was read and timed at least once in the window.
        assertTrue(result.get("metrics_scrape_ms_max").asDouble() > 0, result.toString());
        assertEquals(result.get("collector_rss_mb").asDouble() / 4, result.get("collector_rss_per_vm_mb").asDouble(), 0.01);
        // Both JVMs' compile time in the window: the collector's comes from its jvm_compilation_time_seconds metric.
        assertTrue(result.get("jit_ms_in_window").asLong() >= 0, result.toString());
        assertTrue(result.get("collector_jit_ms_in_window").asLong() >= 0, result.toString());
    }

    /**
     * Issue 19: clones of one image on a collector without and with page sharing, in one invocation: what their
     * standbys hold on disk (allocated blocks, so sharing must show as fewer), and every promoted image its primary's.
     */
    @Test
    void comparesStoredBytesWithoutAndWithSharingAndChecksEveryPromotion() throws Exception {
        JsonNode result = bench("--vms", "3", "--source", "sim:mem=4m,rate=20,workload=zipf,image-seed=7",
                "--seconds", "2", "--warmup-seconds", "1", "--compare-sharing");
        JsonNode sharing = result.get("sharing");
        assertTrue(sharing != null, result.toString());
        for (String side : List.of("off", "on")) {
            JsonNode figures = sharing.get(side);
            assertEquals(3, figures.get("promoted").asInt(), figures.toString());
            assertTrue(figures.get("every_digest_matches").asBoolean(), figures.toString());
            assertEquals(0, figures.get("digest_mismatches").size(), figures.toString());
        }
        assertTrue(sharing.get("every_digest_matches").asBoolean(), sharing.toString());
        JsonNode off = sharing.get("off").get("stored");
        JsonNode on = sharing.get("on").get("stored");
        // Without sharing each clone's image holds its pages (one in eight of the image is zero, a hole).
        assertTrue(off.get("images_bytes").asLong() > 3 * (3L << 20), off.toString());
        assertEquals(0, off.get("shared_store_bytes").asLong(), off.toString());
        // With it the clones' equal pages are stored once, in the shared store, and their images are holes.
        assertTrue(on.get("shared_store_bytes").asLong() > 0, on.toString());
        assertTrue(on.get("shared_store_bytes").asLong() < 2 * (4L << 20), on.toString());
        assertTrue(on.get("total_bytes").asLong() < off.get("total_bytes").asLong(), sharing.toString());
        assertTrue(sharing.get("on").get("shared_pages").asLong() > 2 * 512, sharing.toString());
    }

    @Test
    void compareSharingNeedsVms() throws Exception {
        CliRun run = CliRun.of("bench", "--compare-sharing", "--json");
        assertTrue(run.code() != 0);
        assertTrue(run.err().contains("--compare-sharing goes with --vms"), run.err());
    }

    private static JsonNode bench(String... args) throws Exception {
        String[] all = new String[args.length + 2];
        all[0] = "bench";
        System.arraycopy(args, 0, all, 1, args.length);
        all[all.length - 1] = "--json";
        CliRun run = CliRun.of(all);
        assertEquals(0, run.code(), run.out() + run.err());
        return run.json();
    }
}
