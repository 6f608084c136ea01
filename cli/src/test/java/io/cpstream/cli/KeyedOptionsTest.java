package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.AgentKeys;
import io.cpstream.config.ConfigKey;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

/**
 * Options that are daemon settings take default, doc and parser from their key, in every command that has them;
 * a command whose options do not fit its keys does not start.
 */
class KeyedOptionsTest {

    @Test
    void everyKeyedOptionHasItsKeysDefaultDocAndParser() {
        List<String> checked = new ArrayList<>();
        for (CommandLine command : new CommandLine(new Main()).getSubcommands().values()) {
            if (!(command.getCommand() instanceof KeyedOptions.Keyed keyed)) {
                continue;
            }
            for (ConfigKey<?> key : keyed.keys()) {
                OptionSpec option = command.getCommandSpec().findOption(key.option());
                String where = command.getCommandName() + " " + key.option();
                assertEquals(key.defaultText(), option.defaultValue(), where);
                assertTrue(option.description()[0].startsWith(key.doc()), where + ": " + option.description()[0]);
                if (key.defaultText() != null) {
                    assertEquals(key.defaultValue(), key.parse(key.defaultText()), where + " reads its default back");
                }
                checked.add(where);
            }
        }
        assertTrue(checked.containsAll(List.of("agent --epoch-ms", "demo --epoch-ms", "run --epoch-ms",
                "bench --epoch-ms", "collector --lease-ms")), checked.toString());
    }

    @Test
    void helpShowsEachDefaultAndDocFromTheKey() {
        CliRun help = CliRun.of("agent", "--help");
        assertEquals(0, help.code());
        String text = help.out().replaceAll("\\s+", " ");
        for (ConfigKey<?> key : AgentKeys.ALL) {
            String expected = key.doc() + (key.isRequired() ? " (required)" : "")
                    + (key.defaultText() == null ? "" : " (default: " + key.defaultText() + ")");
            assertTrue(text.contains(expected), "agent --help lacks: " + expected);
        }
        assertTrue(Pattern.compile("--epoch-ms=\\S+ Target time between checkpoints, in milliseconds \\(default: 10\\)")
                .matcher(text).find(), text);
    }

    @Test
    void aBadValueIsRefusedWhileParsing() {
        CliRun run = CliRun.of("agent", "--collector", "h:1", "--vm", "v", "--split", "all");
        assertEquals(2, run.code());
        assertTrue(run.err().contains("Invalid value for option '--split': 'all' is not a split; use copy-all or history"),
                run.err());
    }

    @Command(name = "mistyped", modelTransformer = KeyedOptions.class)
    static final class Mistyped implements KeyedOptions.Keyed {
        @Option(names = "--epoch-ms")
        int epochMillis;

        @Override
        public List<ConfigKey<?>> keys() {
            return List.of(AgentKeys.EPOCH_MS);
        }
    }

    @Command(name = "missing", modelTransformer = KeyedOptions.class)
    static final class Missing implements KeyedOptions.Keyed {
        @Override
        public List<ConfigKey<?>> keys() {
            return List.of(AgentKeys.EPOCH_MS);
        }
    }

    @Command(name = "twice", modelTransformer = KeyedOptions.class)
    static final class DefaultTwice implements KeyedOptions.Keyed {
        @Option(names = "--epoch-ms", defaultValue = "10")
        long epochMillis;

        @Override
        public List<ConfigKey<?>> keys() {
            return List.of(AgentKeys.EPOCH_MS);
        }
    }

    @Test
    void aCommandWhoseOptionsDoNotFitItsKeysDoesNotStart() {
        assertTrue(failure(new Mistyped()).contains("mistyped --epoch-ms: int, but the key holds Long"));
        assertTrue(failure(new Missing()).contains("missing has no option for the keys [--epoch-ms]"));
        assertTrue(failure(new DefaultTwice()).contains("twice --epoch-ms: its default is the key's, not 10"));
    }

    private static String failure(Object command) {
        RuntimeException e = assertThrows(RuntimeException.class, () -> new CommandLine(command));
        StringBuilder messages = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            messages.append(t.getMessage()).append('\n');
        }
        return messages.toString();
    }
}
