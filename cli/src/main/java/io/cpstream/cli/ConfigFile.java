package io.cpstream.cli;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * A daemon's YAML config file, {@code --config FILE}. The one rule that maps keys to options: every
 * long option of the command is a key, without its dashes ({@code --metrics-port 9465} is
 * {@code metrics-port: 9465}). So an option added to a daemon command is a config key with no further
 * code. Values from the file become the options' defaults; flags on the command line override them.
 *
 * <p>The whole file is checked before the daemon starts: an unknown key, a key given twice, a value
 * that is not a single scalar, or a value the option's own converter rejects stops the daemon with a
 * message that names the file and the key.
 */
final class ConfigFile {

    /** The option that names the file. */
    static final String OPTION = "--config";
    /** Options that make no sense in a daemon's file. */
    private static final Set<String> NOT_KEYS = Set.of(OPTION, "--json");

    private static final ObjectMapper YAML = new ObjectMapper(YAMLFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build());

    private final Path path;
    private final Map<String, String> values;

    private ConfigFile(Path path, Map<String, String> values) {
        this.path = path;
        this.values = values;
    }

    /** A config file that does not fit its command: the message names the file and the key. */
    static final class InvalidConfig extends RuntimeException {
        InvalidConfig(String message) {
            super(message);
        }
    }

    /**
     * If the command line runs a subcommand with {@code --config FILE}, reads and checks FILE and makes
     * its values that subcommand's defaults. A command line that does not parse is left alone: picocli
     * reports it when it executes.
     */
    static void install(CommandLine root, CommandLine scratch, String... args) {
        CommandLine.ParseResult parsed;
        try {
            parsed = scratch.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            return;
        }
        CommandLine.ParseResult sub = parsed.subcommand();
        if (sub == null || !sub.hasMatchedOption(OPTION)) {
            return;
        }
        Path file = sub.matchedOptionValue(OPTION, null);
        CommandLine target = root.getSubcommands().get(sub.commandSpec().name());
        ConfigFile config = load(file, target.getCommandSpec());
        target.setDefaultValueProvider(argument -> argument instanceof OptionSpec option
                ? config.values.get(key(option)) : null);
    }

    /** Reads {@code file} and checks every key and value against {@code spec}. */
    static ConfigFile load(Path file, CommandSpec spec) {
        JsonNode root;
        try {
            root = YAML.readTree(file.toFile());
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new InvalidConfig("config file " + file + " does not exist");
        } catch (JacksonException e) {
            throw new InvalidConfig("config file " + file + " is not valid YAML: " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ")"));
        } catch (IOException e) {
            throw new InvalidConfig("cannot read config file " + file + ": " + e.getMessage());
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            return new ConfigFile(file, Map.of());
        }
        if (!root.isObject()) {
            throw new InvalidConfig("config file " + file + " must be a map of key: value lines");
        }
        Map<String, OptionSpec> options = keys(spec);
        Map<String, String> values = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : root.properties()) {
            String key = entry.getKey();
            OptionSpec option = options.get(key);
            if (option == null) {
                throw new InvalidConfig(where(file, key) + "unknown key; " + spec.name() + " knows "
                        + String.join(", ", options.keySet()) + suggestion(key, options.keySet()));
            }
            String value = scalar(file, key, entry.getValue());
            check(file, key, option, value, spec);
            values.put(key, value);
        }
        return new ConfigFile(file, Collections.unmodifiableMap(values));
    }

    Path path() {
        return path;
    }

    Map<String, String> values() {
        return values;
    }

    /** The keys a command's config file may hold, in the order the command declares its options. */
    static Map<String, OptionSpec> keys(CommandSpec spec) {
        Map<String, OptionSpec> keys = new LinkedHashMap<>();
        for (OptionSpec option : spec.options()) {
            if (!option.usageHelp() && !option.versionHelp() && !NOT_KEYS.contains(option.longestName())
                    && option.longestName().startsWith("--")) {
                keys.put(key(option), option);
            }
        }
        return keys;
    }

    static String key(OptionSpec option) {
        return option.longestName().substring(2);
    }

    private static String scalar(Path file, String key, JsonNode node) {
        if (node.isNull() || (node.isTextual() && node.asText().isEmpty())) {
            throw new InvalidConfig(where(file, key) + "has no value");
        }
        if (node.isArray()) {
            List<String> items = new ArrayList<>();
            for (JsonNode item : node) {
                if (!item.isValueNode() || item.isNull()) {
                    throw new InvalidConfig(where(file, key) + "list items must be single values");
                }
                items.add(item.asText());
            }
            return String.join(",", items);
        }
        if (!node.isValueNode()) {
            throw new InvalidConfig(where(file, key) + "must be a single value, not a map");
        }
        return node.asText();
    }

    /** Converts {@code value} with the option's own converter, on a fresh instance of the command. */
    private static void check(Path file, String key, OptionSpec option, String value, CommandSpec spec) {
        if (option.arity().max() == 0) {
            String flag = value.toLowerCase(Locale.ROOT);
            if (!flag.equals("true") && !flag.equals("false")) {
                throw new InvalidConfig(where(file, key) + "bad value '" + value + "': use true or false");
            }
            return;
        }
        CommandLine fresh = new CommandLine(spec.userObject().getClass());
        try {
            fresh.parseArgs(option.longestName() + "=" + value);
        } catch (CommandLine.MissingParameterException e) {
            // Another option is required on its own; this value converted fine.
        } catch (CommandLine.ParameterException e) {
            String message = e.getMessage();
            String prefix = "Invalid value for option '" + option.longestName() + "': ";
            if (message.startsWith(prefix)) {
                message = message.substring(prefix.length());
            }
            throw new InvalidConfig(where(file, key) + "bad value: " + message);
        }
    }

    private static String where(Path file, String key) {
        return "config file " + file + ", key '" + key + "': ";
    }

    /** "did you mean" for a key with underscores for dashes or a different case. */
    private static String suggestion(String key, Set<String> known) {
        String normal = key.toLowerCase(Locale.ROOT).replace('_', '-').replace('.', '-');
        return known.contains(normal) && !normal.equals(key) ? " (did you mean '" + normal + "'?)" : "";
    }
}
