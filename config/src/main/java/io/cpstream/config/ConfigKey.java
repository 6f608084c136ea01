package io.cpstream.config;

import java.util.Objects;
import java.util.function.Function;

/**
 * One setting of a daemon, everything about it in one place (in the manner of Apache Ratis's config keys): its
 * name, its type, its default, a one-line doc, and the parser that turns text into a checked value.
 *
 * <p>The name is the daemon command's long option without its dashes and the key of its config file
 * ({@code epoch-ms} is {@code --epoch-ms} and the file's {@code epoch-ms:}). The parser takes the text of a flag
 * or of a file value and throws {@link IllegalArgumentException} with a message that quotes the value and says
 * what is wrong with it ({@code '0' must be at least 1}); the launcher prefixes the option or the file and key.
 *
 * <p>Catalogues of keys live next to the records they configure: {@code agent.AgentKeys} beside
 * {@code AgentConfig}, {@code collector.CollectorKeys} beside {@code CollectorConfig}. The records take their
 * defaults from the keys, and so do the launcher's options.
 *
 * @param <T> the type of the value
 */
public final class ConfigKey<T> {

    private final String name;
    private final Class<T> type;
    private final T defaultValue;
    private final boolean required;
    private final String doc;
    private final Function<String, T> parser;
    private final Function<? super T, String> writer;

    private ConfigKey(String name, Class<T> type, T defaultValue, boolean required, String doc,
                      Function<String, T> parser, Function<? super T, String> writer) {
        if (!name.matches("[a-z][a-z0-9]*(-[a-z0-9]+)*")) {
            throw new IllegalArgumentException("a key name is lower-case words joined by dashes, not '" + name + "'");
        }
        this.name = name;
        this.type = Objects.requireNonNull(type, "type");
        this.defaultValue = defaultValue;
        this.required = required;
        this.doc = Objects.requireNonNull(doc, "doc");
        this.parser = Objects.requireNonNull(parser, "parser");
        this.writer = Objects.requireNonNull(writer, "writer");
    }

    /** A setting with a default; its type is the default's. */
    public static <T> ConfigKey<T> of(String name, T defaultValue, String doc, Function<String, T> parser) {
        Objects.requireNonNull(defaultValue, "defaultValue");
        return new ConfigKey<>(name, typeOf(defaultValue), defaultValue, false, doc, parser, ConfigKey::write);
    }

    /** A setting without a default: left out, it is off (no stun target, no ZooKeeper). */
    public static <T> ConfigKey<T> optional(String name, Class<T> type, String doc, Function<String, T> parser) {
        return new ConfigKey<>(name, type, null, false, doc, parser, ConfigKey::write);
    }

    /** A setting without a default that must be given (on the command line or in the config file). */
    public static <T> ConfigKey<T> required(String name, Class<T> type, String doc, Function<String, T> parser) {
        return new ConfigKey<>(name, type, null, true, doc, parser, ConfigKey::write);
    }

    /** This key with its values written by {@code writer} wherever they are shown, e.g. a size as {@code 64m}. */
    public ConfigKey<T> writtenAs(Function<? super T, String> writer) {
        return new ConfigKey<>(name, type, defaultValue, required, doc, parser, writer);
    }

    /** The key of the config file, and the long option without its dashes. */
    public String name() {
        return name;
    }

    /** The long option: {@code --} and the name. */
    public String option() {
        return "--" + name;
    }

    public Class<T> type() {
        return type;
    }

    /** The default, or null when the key has none (optional or required). */
    public T defaultValue() {
        return defaultValue;
    }

    public boolean isRequired() {
        return required;
    }

    /** One line: what the setting does, without its default. */
    public String doc() {
        return doc;
    }

    /** The default as it is written on a command line or in a file, or null when the key has none. */
    public String defaultText() {
        return defaultValue == null ? null : writer.apply(defaultValue);
    }

    /** Parses and checks {@code text}; throws {@link IllegalArgumentException} naming the value and the fault. */
    public T parse(String text) {
        return parser.apply(text);
    }

    @Override
    public String toString() {
        return name;
    }

    @SuppressWarnings("unchecked")
    private static <T> Class<T> typeOf(T value) {
        return (Class<T>) (value instanceof Enum<?> e ? e.getDeclaringClass() : value.getClass());
    }

    /** Enums as {@link Parsers#choice} reads them, whole decimals without {@code .0}, the rest as is. */
    private static String write(Object value) {
        if (value instanceof Enum<?> choice) {
            return Parsers.writeChoice(choice);
        }
        if (value instanceof Double number) {
            return Parsers.writeDecimal(number);
        }
        return String.valueOf(value);
    }
}
