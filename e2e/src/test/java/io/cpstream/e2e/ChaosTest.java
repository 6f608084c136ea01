package io.cpstream.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.cpstream.cli.CliRun;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The breaking harness, as CI affords it: one trial of each fault (SIGKILL of the agent, SIGKILL of
 * the collector, a partition, a slow link), each followed by a promotion and a run of the promoted VM.
 * `cpstream chaos --trials 30` runs the same trials many more times.
 */
class ChaosTest {

    @TempDir
    Path work;

    @Test
    void failoversUnderEveryFaultLoseAndRepeatNoOutput() throws Exception {
        JsonNode result = chaos("--trials", "4", "--source", "sim:mem=4m,rate=20000,outputs=1000");
        assertEquals(4, result.get("trials").asInt());
        assertEquals(0, result.get("violations").asLong(), result.toPrettyString());
        assertEquals(0, result.get("outputs_lost").asLong());
        assertEquals(0, result.get("outputs_duplicated").asLong());
        assertEquals(0, result.get("digest_mismatches").asLong());
        for (JsonNode trial : result.get("results")) {
            assertTrue(trial.get("released_total").asLong() > trial.get("output_end").asLong(),
                    "the promoted VM released output of its own: " + trial);
        }
    }

    /**
     * The faults of a pool, once each: a ZooKeeper ensemble of three and three collectors as processes; the standby's
     * collector lost for good, a partition while that side promotes, a ZooKeeper member lost. Never two primaries,
     * and output stops for about the standby timeout (two leases) where a standby was lost.
     */
    @Test
    void aPoolSurvivesTheLossOfAStandbyAPartitionedPromotionAndAZooKeeperMember() throws Exception {
        JsonNode result = chaos("--trials", "3", "--faults", "standby-lost,partition-promote,zk-member-lost",
                "--source", "sim:mem=4m,rate=20000,outputs=1000");
        assertEquals(0, result.get("violations").asLong(), result.toPrettyString());
        assertEquals(0, result.get("two_primaries").asLong());
        assertEquals(0, result.get("outputs_lost").asLong());
        assertEquals(0, result.get("outputs_duplicated").asLong());
        assertTrue(result.has("output_stall_ms_p99") && result.has("reprotected_ms_p99"), result.toPrettyString());
        for (JsonNode trial : result.get("results")) {
            assertTrue(trial.get("released_total").asLong() > trial.get("output_end").asLong(),
                    "the promoted VM released output of its own: " + trial);
        }
    }

    @Test
    void failoverOfARealKvmGuest() throws Exception {
        Replication.assumeBackend("kvm");
        JsonNode result = chaos("--trials", "2", "--source", "kvm:guest=counter,mem=4m");
        assertEquals(0, result.get("violations").asLong(), result.toPrettyString());
    }

    @Test
    void failoverOfAnEmulatedGuest() throws Exception {
        Replication.assumeBackend("emu");
        JsonNode result = chaos("--trials", "2", "--source", "emu:guest=counter,mem=4m");
        assertEquals(0, result.get("violations").asLong(), result.toPrettyString());
        assertEquals(0, result.get("outputs_lost").asLong(), result.toPrettyString());
        assertEquals(0, result.get("outputs_duplicated").asLong(), result.toPrettyString());
    }

    @Test
    void failoverUnderRecordReplayReplaysToThePrimaryAtItsLastAcknowledgedInput() throws Exception {
        Replication.assumeBackend("emu");
        JsonNode result = chaos("--trials", "2", "--faults", "kill-agent,partition", "--protect", "replay",
                "--source", "emu:guest=kv,mem=8m");
        assertEquals(0, result.get("violations").asLong(), result.toPrettyString());
        assertEquals(0, result.get("digest_mismatches").asLong(), result.toPrettyString());
        for (JsonNode trial : result.get("results")) {
            // The log, not only the checkpoint, carried outputs across: the promotion reaches past the checkpoint's.
            assertTrue(trial.get("replayed_output_end").asLong() >= trial.get("output_end").asLong(), trial.toString());
            assertTrue(trial.get("released_total").asLong() >= trial.get("replayed_output_end").asLong() + 20,
                    trial.toString());
        }
    }

    /** Under quasi-lockstep the standby's collector also runs a secondary; killed, it starts one again. */
    @Test
    void failoverUnderLockstepKeepsEveryReleasedAnswer() throws Exception {
        Replication.assumeBackend("emu");
        JsonNode result = chaos("--trials", "1", "--faults", "kill-collector", "--protect", "lockstep",
                "--source", "emu:guest=kv,mem=8m");
        assertEquals("lockstep", result.get("protect").asText(), result.toPrettyString());
        assertEquals(0, result.get("violations").asLong(), result.toPrettyString());
        assertEquals(0, result.get("digest_mismatches").asLong(), result.toPrettyString());
    }

    private JsonNode chaos(String... args) throws Exception {
        String[] all = java.util.stream.Stream.concat(java.util.stream.Stream.of("chaos", "--json", "--keep",
                work.toString()), java.util.Arrays.stream(args)).toArray(String[]::new);
        CliRun run = CliRun.of(all);
        JsonNode result = run.json();
        assertEquals(result.get("violations").asLong() == 0 ? 0 : 1, run.code(), result.toPrettyString());
        return result;
    }
}
