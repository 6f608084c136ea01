package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.AgentKeys;
import io.cpstream.collector.CollectorKeys;
import io.cpstream.collector.store.Durability;
import io.cpstream.config.ConfigKey;
import io.cpstream.config.HostPort;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Config files: keys are the long options, values from the file are defaults that flags override, and
 * a wrong key or value stops the daemon at start with a message naming the key. The keys are exactly the
 * settings of the catalogues (AgentKeys, CollectorKeys); the shipped example files are valid, document every key
 * and show the defaults.
 */
class ConfigFileTest {

    /** The example config files deploy/ ships, one per daemon. */
    static final Path EXAMPLES = Path.of(System.getProperty("user.dir")).resolveSibling("deploy").resolve("config");

    /** Each daemon's settings. */
    static final Map<String, List<ConfigKey<?>>> CATALOGUES = Map.of("agent", AgentKeys.ALL, "collector", CollectorKeys.ALL);

    @TempDir
    Path dir;

    @Test
    void unknownKeyStopsTheCollectorNamingTheKey() throws Exception {
        CliRun result = CliRun.of("collector", "--config", write("data-dir: " + dir + "\nmetrics_port: 9465\n"));
        assertEquals(2, result.code());
        assertTrue(result.err().contains("key 'metrics_port': unknown key"), result.err());
        assertTrue(result.err().contains("did you mean 'metrics-port'"), result.err());
        assertEquals("", result.out(), "nothing started");
    }

    @Test
    void badValuesStopTheDaemonNamingTheKey() throws Exception {
        Map<String, String> cases = Map.of(
                "metrics-port: ninety\n", "key 'metrics-port': bad value: 'ninety' is not a port number",
                "metrics-port: 70000\n", "key 'metrics-port': bad value: '70000' is not a port number (0 to 65535)",
                "durability: sometimes\n", "key 'durability': bad value: 'sometimes' is not a durability; use none or fsync",
                "listen: nowhere\n", "key 'listen': bad value: 'nowhere' is not HOST:PORT",
                "drain-seconds: -1\n", "key 'drain-seconds': bad value: '-1' must be at least 0",
                "listen:\n  host: a\n", "key 'listen': must be a single value, not a map",
                "listen:\n", "key 'listen': has no value");
        for (Map.Entry<String, String> bad : cases.entrySet()) {
            CliRun result = CliRun.of("collector", "--config", write("data-dir: " + dir + "\n" + bad.getKey()));
            assertEquals(2, result.code(), bad.getKey());
            assertTrue(result.err().contains(bad.getValue()), "for " + bad.getKey().strip() + ": " + result.err());
        }
        CliRun agent = CliRun.of("agent", "--config", write("collector: h:1\nvm: a\nepoch-ms: 0\n"));
        assertEquals(2, agent.code());
        assertTrue(agent.err().contains("key 'epoch-ms': bad value: '0' must be at least 1"), agent.err());
        CliRun flag = CliRun.of("agent", "--config", write("collector: h:1\nvm: a\nverify: maybe\n"));
        assertEquals(2, flag.code());
        assertTrue(flag.err().contains("key 'verify': bad value: 'maybe' is not a boolean"), flag.err());
    }

    @Test
    void unreadableFilesAreReported() throws Exception {
        CliRun missing = CliRun.of("collector", "--config", dir.resolve("absent.yaml").toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("absent.yaml does not exist"), missing.err());
        CliRun twice = CliRun.of("collector", "--config", write("metrics-port: 1\nmetrics-port: 2\n"));
        assertEquals(2, twice.code());
        assertTrue(twice.err().contains("not valid YAML") && twice.err().contains("metrics-port"), twice.err());
        CliRun list = CliRun.of("collector", "--config", write("- a\n- b\n"));
        assertEquals(2, list.code());
        assertTrue(list.err().contains("must be a map of key: value lines"), list.err());
    }

    @Test
    void theFileSetsDefaultsAndFlagsOverrideThem() throws Exception {
        Path file = Path.of(write("""
                listen: 127.0.0.1:7800
                data-dir: /srv/standby
                durability: fsync
                drain-seconds: 9
                """));
        CollectorCommand fromFile = parse(new CollectorCommand(), "collector", "--config", file.toString());
        assertEquals(new HostPort("127.0.0.1", 7800), fromFile.listen);
        assertEquals(Path.of("/srv/standby"), fromFile.dataDir);
        assertEquals(Durability.FSYNC, fromFile.durability);
        assertEquals(9, fromFile.drainSeconds);
        assertEquals(9465, fromFile.metricsPort, "keys the file leaves out keep their defaults");

        CollectorCommand overridden = parse(new CollectorCommand(), "collector", "--config", file.toString(),
                "--durability", "none", "--listen", "0.0.0.0:7900");
        assertEquals(Durability.NONE, overridden.durability);
        assertEquals(new HostPort("0.0.0.0", 7900), overridden.listen);
        assertEquals(Path.of("/srv/standby"), overridden.dataDir);

        Path agentFile = Path.of(write("collector: b:7700\nvm: from-file\nverify: true\n"));
        AgentCommand agent = parse(new AgentCommand(), "agent", "--config", agentFile.toString(), "--vm", "web-1",
                "--verify=false");
        assertEquals("web-1", agent.vm, "the unit's --vm %i wins over the file");
        assertEquals(new HostPort("b", 7700), agent.collector);
        assertEquals(false, agent.verify);
    }

    @Test
    void aRequiredSettingMissingFromFileAndFlagsIsNamed() throws Exception {
        CliRun result = CliRun.of("collector", "--config", write("metrics-port: 0\n"));
        assertEquals(1, result.code());
        assertTrue(result.err().contains("missing --data-dir: give it on the command line or as 'data-dir:'"), result.err());
    }

    @Test
    void shippedExamplesAreValidAndDocumentEveryKey() throws Exception {
        for (String command : List.of("collector", "agent")) {
            Path example = EXAMPLES.resolve(command + ".yaml");
            CommandSpec spec = spec(command);
            ConfigFile.load(example, spec);
            String text = Files.readString(example);
            List<String> undocumented = new ArrayList<>();
            for (String key : ConfigFile.keys(spec).keySet()) {
                if (!text.matches("(?s).*^(# )?" + key + ":.*") && !text.contains("\n" + key + ":")
                        && !text.contains("\n# " + key + ":")) {
                    undocumented.add(key);
                }
            }
            assertEquals(List.of(), undocumented, example + " must document every key of " + command);
        }
    }

    @Test
    void theKeyCataloguesAreTheDaemonsSettings() {
        CATALOGUES.forEach((command, keys) -> {
            assertEquals(keys.stream().map(ConfigKey::name).toList(), List.copyOf(ConfigFile.keys(spec(command)).keySet()),
                    "every key of " + command + "'s catalogue is one of its options, and every option but "
                            + ConfigFile.OPTION + " and --json is a key, in the same order");
        });
    }

    /**
     * An example that writes out a key with a default shows that default (a value of its own would be taken for
     * the default by whoever reads the file), except where the file says it is an example.
     */
    @Test
    void shippedExamplesShowTheDefaults() throws Exception {
        Set<String> examples = Set.of("agent source");
        for (Map.Entry<String, List<ConfigKey<?>>> catalogue : CATALOGUES.entrySet()) {
            String command = catalogue.getKey();
            Map<String, String> values = ConfigFile.load(EXAMPLES.resolve(command + ".yaml"), spec(command)).values();
            for (ConfigKey<?> key : catalogue.getValue()) {
                String value = values.get(key.name());
                if (key.defaultValue() != null && value != null && !examples.contains(command + " " + key.name())) {
                    assertEquals(key.defaultValue(), key.parse(value), command + ".yaml, key '" + key.name() + "'");
                }
            }
        }
    }

    private static CommandSpec spec(String command) {
        return new CommandLine(new Main()).getSubcommands().get(command).getCommandSpec();
    }

    /** Parses a daemon command line the way Main does, into {@code command}. */
    private static <T> T parse(T command, String name, String... args) {
        String[] full = new String[args.length + 1];
        full[0] = name;
        System.arraycopy(args, 0, full, 1, args.length);
        CommandLine line = new CommandLine(new Main());
        ConfigFile.install(line, new CommandLine(new Main()), full);
        CommandLine mine = new CommandLine(command);
        mine.setDefaultValueProvider(line.getSubcommands().get(name).getDefaultValueProvider());
        mine.parseArgs(args);
        return command;
    }

    private String write(String yaml) throws Exception {
        Path file = Files.createTempFile(dir, "config-", ".yaml");
        Files.writeString(file, yaml);
        return file.toString();
    }
}
