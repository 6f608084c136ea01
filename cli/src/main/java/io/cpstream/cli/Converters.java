package io.cpstream.cli;

import io.cpstream.config.Parsers;
import java.util.function.Function;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Option converters for options that are not daemon settings (those get theirs from their keys, see
 * {@link KeyedOptions}), with the same parsers and messages.
 */
final class Converters {

    private Converters() {
    }

    /** A whole number of at least 1. */
    static final class Positive implements ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            return Converters.convert(Parsers.atLeast(1), value);
        }
    }

    /** {@code parser}'s value, its failure as picocli's. */
    static <T> T convert(Function<String, T> parser, String value) {
        try {
            return parser.apply(value);
        } catch (IllegalArgumentException e) {
            throw new TypeConversionException(e.getMessage());
        }
    }
}
