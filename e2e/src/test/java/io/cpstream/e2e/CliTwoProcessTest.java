package io.cpstream.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cpstream.cli.CliRun;
import io.cpstream.cli.Main;
import io.cpstream.encoder.ImageDigest;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator's path: collector and agent as separate processes on loopback, {@code status} shows the
 * VM replicating, {@code promote} returns a snapshot whose digest is the primary's at that epoch, and
 * the old primary is fenced (I3).
 */
class CliTwoProcessTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dataDir;

    private final List<Process> processes = new ArrayList<>();

    @AfterEach
    void stopProcesses() {
        processes.forEach(Process::destroyForcibly);
    }

    /** The options that make {@code name} (issued by {@code cpstream pki} into {@code pki}) this command's identity. */
    private static String[] tls(Path pki, String name) {
        return new String[] {"--tls-cert", pki.resolve(name + ".crt").toString(), "--tls-key",
                pki.resolve(name + ".key").toString(), "--tls-ca", pki.resolve("ca.crt").toString()};
    }

    private static String[] with(String[] options, String... more) {
        List<String> all = new ArrayList<>(List.of(more));
        all.addAll(List.of(options));
        return all.toArray(String[]::new);
    }

    @Test
    void replicateInspectPromoteAndFence() throws Exception {
        // Certificates the way the README issues them: a CA, then one identity per daemon and operator.
        Path pki = dataDir.resolve("pki");
        assertEquals(0, CliRun.of("pki", "init", "--dir", pki.toString()).code());
        for (String[] issue : List.of(new String[] {"collector", "collector"}, new String[] {"host-a", "agent"},
                new String[] {"ops", "admin"}, new String[] {"viewer", "reader"})) {
            CliRun issued = CliRun.of(with(issue[1].equals("agent") ? new String[] {"--vm", "vm-*"} : new String[0],
                    "pki", "issue", "--dir", pki.toString(), "--name", issue[0], "--role", issue[1]));
            assertEquals(0, issued.code(), issued.err());
        }
        int port = freePort();
        String collector = "127.0.0.1:" + port;
        spawn(with(tls(pki, "collector"), "collector", "--listen", collector, "--data-dir",
                dataDir.resolve("data").toString(), "--metrics-port", "0"));
        Process agent = spawn(with(tls(pki, "host-a"), "agent", "--collector", collector, "--vm", "vm-1", "--source",
                "sim:mem=4m,rate=20000", "--metrics-port", "0", "--verify"));
        String[] ops = tls(pki, "ops");

        JsonNode vm = await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(300)).until(() -> {
            CliRun status = CliRun.of(with(tls(pki, "viewer"), "status", "--collector", collector, "--json"));
            if (status.code() != 0) {
                return null;
            }
            JsonNode vms = status.json().get("vms");
            return vms.isEmpty() ? null : vms.get(0);
        }, node -> node != null && node.get("state").asText().equals("replicating")
                && node.get("committed_epoch").asLong() >= 20);
        assertEquals("vm-1", vm.get("vm").asText());
        assertTrue(vm.get("lag_ms").asLong() >= 0, "lag is reported: " + vm);

        // A reader may look, not promote; without a certificate nothing at all.
        CliRun reader = CliRun.of(with(tls(pki, "viewer"), "promote", "--collector", collector, "--vm", "vm-1",
                "--force"));
        assertEquals(1, reader.code(), reader.out());
        assertTrue(reader.err().contains("viewer (reader) may not call Promote (needs the admin role)"), reader.err());
        CliRun plaintext = CliRun.of("status", "--collector", collector, "--json", "--insecure");
        assertEquals(1, plaintext.code(), plaintext.out());
        CliRun none = CliRun.of("status", "--collector", collector, "--json");
        assertEquals(1, none.code(), none.out());
        assertTrue(none.err().contains("--tls-cert"), none.err());

        // While the primary streams and renews its lease, the safe default refuses to make a second primary.
        CliRun refused = CliRun.of(with(ops, "promote", "--collector", collector, "--vm", "vm-1", "--json"));
        assertEquals(1, refused.code(), refused.out());
        assertTrue(refused.err().contains("still holds its lease") && refused.err().contains("--force"), refused.err());

        CliRun promote = CliRun.of(with(ops, "promote", "--collector", collector, "--vm", "vm-1", "--force", "--json"));
        assertEquals(0, promote.code(), promote.err());
        JsonNode promoted = promote.json();
        assertTrue(promoted.get("verified").asBoolean(), "snapshot equals the primary at the promoted epoch: " + promoted);
        assertEquals(promoted.get("primary_digest").asText(), promoted.get("image_digest").asText());
        Path memory = Path.of(promoted.get("snapshot").asText()).resolve("memory.img");
        assertEquals(promoted.get("image_digest").asText(), ImageDigest.hex(ImageDigest.sha256(Files.readAllBytes(memory))),
                "sha256sum of memory.img is the reported digest");

        // The old primary is refused from now on and stops by itself, with a non-zero exit.
        assertTrue(agent.waitFor(60, TimeUnit.SECONDS), "fenced agent exits");
        assertNotEquals(0, agent.exitValue());

        CliRun again = CliRun.of(with(ops, "promote", "--collector", collector, "--vm", "vm-1", "--json"));
        assertEquals(1, again.code());
        assertTrue(again.err().contains("already promoted"), again.err());
        CliRun status = CliRun.of(with(ops, "status", "--collector", collector, "--json"));
        assertEquals("promoted", status.json().get("vms").get(0).get("state").asText());
    }

    @Test
    void errorsAreOneActionableLineOnStderr() throws Exception {
        CliRun unreachable = CliRun.of("status", "--collector", "127.0.0.1:" + freePort(), "--json", "--insecure");
        assertEquals(1, unreachable.code());
        assertTrue(unreachable.err().contains("cannot reach the collector"), unreachable.err());
        assertEquals("", unreachable.out());

        CliRun badSource = CliRun.of("agent", "--collector", "127.0.0.1:1", "--vm", "x", "--source", "sim:mem=4m,colour=red",
                "--insecure");
        assertEquals(1, badSource.code());
        assertTrue(badSource.err().contains("does not know parameter(s) [colour]"), badSource.err());

        CliRun usage = CliRun.of("promote", "--json");
        assertEquals(2, usage.code());
        assertTrue(usage.err().contains("--vm"), usage.err());
    }

    private Process spawn(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dataDir.resolve(args[0] + ".log").toFile()).start();
        processes.add(process);
        return process;
    }

    private static int freePort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
