package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.nio.file.Files;
import java.nio.file.Path;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import picocli.CommandLine;

/**
 * The config loader under generated files (issue 15's campaign): any text loads or is refused with the loader's
 * own error, which names the file; never another exception. 10,000 tries in CI.
 */
class ConfigFuzzTest {

    private static Path dir;

    @BeforeContainer
    static void start() throws Exception {
        dir = Files.createTempDirectory("config-fuzz-");
    }

    @AfterContainer
    static void stop() throws Exception {
        io.cpstream.snapshot.DurableFiles.deleteRecursively(dir);
    }

    @Property
    void anyFileLoadsOrIsRefusedWithTheLoadersMessage(@ForAll("files") String text, @ForAll("commands") String command)
            throws Exception {
        Path file = dir.resolve("config.yaml");
        Files.writeString(file, text);
        CommandLine.Model.CommandSpec spec = new CommandLine(new Main()).getSubcommands().get(command).getCommandSpec();
        try {
            assertNotNull(ConfigFile.load(file, spec));
        } catch (ConfigFile.InvalidConfig refused) {
            if (!refused.getMessage().contains(file.toString())) {
                throw new AssertionError("a refusal that does not name the file: " + refused.getMessage());
            }
        }
    }

    @Provide
    Arbitrary<String> commands() {
        return Arbitraries.of("collector", "agent");
    }

    @Provide
    Arbitrary<String> files() {
        Arbitrary<String> key = Arbitraries.of("listen", "data-dir", "max-vms", "tls-cert", "insecure", "metrics-port",
                "epoch-ms", "verify", "max-guest-bytes", "vm", "unknown", "", "- a", "? x", "&a", "*a", "!!binary");
        Arbitrary<String> value = Arbitraries.oneOf(Arbitraries.of("", "0", "-1", "1g", "9223372036854775808", "true",
                "maybe", "[1, 2]", "{a: 1}", "127.0.0.1:7700", "[::1]:1", "\"x\"", "'", "|", ">", "~", "null", "*a",
                "&a 1", "!!int x"), Arbitraries.strings().ofMaxLength(20));
        Arbitrary<String> line = net.jqwik.api.Combinators.combine(key, value, Arbitraries.of(": ", ":", " ", ":\n  "))
                .as((k, v, sep) -> k + sep + v);
        return Arbitraries.oneOf(line.list().ofMaxSize(6).map(lines -> String.join("\n", lines)),
                Arbitraries.strings().ofMaxLength(200));
    }
}
