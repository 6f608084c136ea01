package io.cpstream.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.cpstream.cli.CliRun;
import org.junit.jupiter.api.Test;

/**
 * {@code bench --vms 4 --attack slowloris,hello-flood}: honest VMs over mutual TLS on a collector process while an
 * attacker holds stalled connections and floods it with Hellos it must refuse. Every honest VM keeps committing, no
 * attacker is welcomed, and the collector stays alive within its heap and direct memory limits. Figures (lag) are
 * reported, never asserted: timing does not belong in pass/fail.
 */
class LoadUnderAttackTest {

    @Test
    void honestVmsKeepCommittingAndTheCollectorStaysWithinItsLimits() throws Exception {
        CliRun run = CliRun.of("bench", "--vms", "4", "--attack", "slowloris,hello-flood", "--source",
                "sim:mem=4m,workload=mixed,rate=500", "--epoch-ms", "50", "--seconds", "3", "--warmup-seconds", "1",
                "--json");
        assertEquals(0, run.code(), run.out() + run.err());
        JsonNode result = run.json();
        assertTrue(result.get("tls").asBoolean(), "the bench runs over mutual TLS");
        JsonNode attack = result.get("attack");
        assertTrue(attack.get("every_vm_committed").asBoolean(), "a VM stopped committing: " + attack);
        assertEquals(0, attack.get("breaches").asLong(), "an attacker was answered: " + attack);
        assertTrue(attack.get("collector_alive").asBoolean(), attack.toString());
        assertTrue(attack.get("collector_within_limits").asBoolean(), attack.toString());
        assertEquals(4, attack.get("per_vm").size());
        for (JsonNode vm : attack.get("per_vm")) {
            assertTrue(vm.get("attack_acknowledged").asLong() > 0, vm.toString());
            assertTrue(vm.has("quiet_lag_ms_p99") && vm.has("attack_lag_ms_p99"), vm.toString());
        }

        // The attacks ran: stalled connections were held, and Hellos of each authenticated kind were refused.
        assertTrue(attack.get("every_attack_under_way").asBoolean(), attack.toString());
        JsonNode slowloris = attack.get("slowloris");
        for (String kind : new String[] {"tcp_silent", "tls_partial_hello", "h2_partial_frame"}) {
            assertTrue(slowloris.get(kind).get("opened").asLong() > 0, kind + ": " + slowloris);
        }
        JsonNode flood = attack.get("hello_flood");
        assertTrue(flood.get("unauthorized").path("PERMISSION_DENIED").asLong() > 0, flood.toString());
        assertTrue(flood.get("wrong_role").path("PERMISSION_DENIED").asLong() > 0, flood.toString());
        for (String kind : new String[] {"unauthorized", "wrong_role"}) {
            flood.get(kind).fieldNames().forEachRemaining(outcome -> assertTrue(
                    outcome.equals("PERMISSION_DENIED") || outcome.equals("hellos_per_s"),
                    kind + " Hellos are refused for their certificate, nothing else: " + flood));
        }
    }
}
