package io.cpstream.cli;

import io.cpstream.config.ConfigKey;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Options that are settings of a daemon take their default, description and parser from the setting's
 * {@link ConfigKey} ({@code agent.AgentKeys}, {@code collector.CollectorKeys}), so that a default is written once.
 * A command declares such an option with its name alone ({@code @Option(names = "--epoch-ms") long epochMillis}),
 * implements {@link Keyed} to name the keys, and has picocli run this class on its model
 * ({@code @Command(modelTransformer = KeyedOptions.class)}). A description the option gives itself is a note
 * appended to the key's doc, for what differs in that command ("always on with --compare-stun").
 *
 * <p>A key without an option of the same name, an option whose type is not the key's, or an option with a default
 * of its own is a mistake in the command, reported when its model is built (every test that parses a command
 * line meets it).
 */
final class KeyedOptions implements CommandLine.IModelTransformer {

    /** A command some of whose options are daemon settings. */
    interface Keyed {
        /** The keys whose options this command declares, each under the key's name. */
        List<ConfigKey<?>> keys();
    }

    @Override
    public CommandSpec transform(CommandSpec spec) {
        if (!(spec.userObject() instanceof Keyed keyed)) {
            throw new IllegalStateException(spec.name() + " asks for keyed options but names no keys");
        }
        Map<String, ConfigKey<?>> keys = new LinkedHashMap<>();
        keyed.keys().forEach(key -> keys.put(key.option(), key));
        // Rebuilt in their order of declaration: a config file's error messages list the keys in that order.
        List<OptionSpec> options = List.copyOf(spec.options());
        options.forEach(spec::remove);
        for (OptionSpec option : options) {
            ConfigKey<?> key = keys.remove(option.longestName());
            spec.addOption(key == null ? option : keyed(spec, option, key));
        }
        if (!keys.isEmpty()) {
            throw new IllegalStateException(spec.name() + " has no option for the keys " + keys.keySet());
        }
        return spec;
    }

    private static OptionSpec keyed(CommandSpec spec, OptionSpec option, ConfigKey<?> key) {
        String where = spec.name() + " " + option.longestName() + ": ";
        if (boxed(option.type()) != key.type()) {
            throw new IllegalStateException(where + option.type().getSimpleName() + ", but the key holds "
                    + key.type().getSimpleName());
        }
        if (option.defaultValue() != null) {
            throw new IllegalStateException(where + "its default is the key's, not " + option.defaultValue());
        }
        String note = option.description().length == 0 ? "" : "; " + String.join(" ", option.description());
        return option.toBuilder()
                .defaultValue(key.defaultText())
                .description(description(key) + note)
                .converters(value -> Converters.convert(key::parse, value))
                .build();
    }

    /** The key's doc, and whether it is required or what its default is (as in effect: a config file's value). */
    private static String description(ConfigKey<?> key) {
        return key.doc() + (key.isRequired() ? " (required)" : "")
                + (key.defaultValue() == null ? "" : " (default: ${DEFAULT-VALUE})");
    }

    private static Class<?> boxed(Class<?> type) {
        return type.isPrimitive() ? java.lang.invoke.MethodType.methodType(type).wrap().returnType() : type;
    }
}
