package io.cpstream.cli;

import io.cpstream.collector.store.Durability;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Option converters that check values as they are parsed, so a bad value is reported the same way
 * whether it came from a flag or from a config file key (see {@link ConfigFile}).
 */
final class Converters {

    private Converters() {
    }

    /** {@code HOST:PORT}. */
    static final class Address implements ITypeConverter<HostPort> {
        @Override
        public HostPort convert(String value) {
            try {
                return HostPort.parse(value, "address");
            } catch (Errors.UserError e) {
                throw new TypeConversionException("'" + value + "' is not HOST:PORT");
            }
        }
    }

    /** A TCP port, 0 to 65535. */
    static final class Port implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            long port = parse(value, "a port number");
            if (port < 0 || port > 65535) {
                throw new TypeConversionException("'" + value + "' is not a port number (0 to 65535)");
            }
            return (int) port;
        }
    }

    /** A whole number of at least {@code minimum}. */
    private abstract static class AtLeast implements ITypeConverter<Long> {
        private final long minimum;

        AtLeast(long minimum) {
            this.minimum = minimum;
        }

        @Override
        public Long convert(String value) {
            long number = parse(value, "a whole number");
            if (number < minimum) {
                throw new TypeConversionException("'" + value + "' must be at least " + minimum);
            }
            return number;
        }
    }

    /** A whole number of at least 1. */
    static final class Positive extends AtLeast {
        Positive() {
            super(1);
        }
    }

    /** A whole number of at least 0. */
    static final class NonNegative extends AtLeast {
        NonNegative() {
            super(0);
        }
    }

    /** {@code none} or {@code fsync}. */
    static final class DurabilityLevel implements ITypeConverter<Durability> {
        @Override
        public Durability convert(String value) {
            try {
                return Durability.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException("'" + value + "' is not a durability; use none or fsync");
            }
        }
    }

    private static long parse(String value, String what) {
        try {
            return Long.parseLong(value.strip());
        } catch (NumberFormatException e) {
            throw new TypeConversionException("'" + value + "' is not " + what);
        }
    }
}
