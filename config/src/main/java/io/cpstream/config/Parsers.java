package io.cpstream.config;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * Parsers of {@link ConfigKey} values. Each throws {@link IllegalArgumentException} with a message that quotes
 * the value and says what is wrong with it, the same whether the value came from a flag or from a config file.
 */
public final class Parsers {

    private Parsers() {
    }

    /** Any text, as given. */
    public static String text(String value) {
        return value;
    }

    public static Path path(String value) {
        return Path.of(value);
    }

    /** {@code true} or {@code false}, in any case. */
    public static Boolean flag(String value) {
        return switch (value.strip().toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("'" + value + "' is not a boolean");
        };
    }

    /** A whole number of at least {@code minimum}. */
    public static Function<String, Long> atLeast(long minimum) {
        return value -> {
            long number = whole(value, "a whole number");
            if (number < minimum) {
                throw new IllegalArgumentException("'" + value + "' must be at least " + minimum);
            }
            return number;
        };
    }

    /** A whole number from {@code minimum} to {@code maximum}; {@code why} says where the bounds come from. */
    public static Function<String, Long> between(long minimum, long maximum, String why) {
        return value -> {
            long number = whole(value, "a whole number");
            if (number < minimum || number > maximum) {
                throw new IllegalArgumentException("'" + value + "' must be from " + minimum + " to " + maximum
                        + " (" + why + ")");
            }
            return number;
        };
    }

    /** A TCP port, 0 to 65535. */
    public static Integer port(String value) {
        long port = whole(value, "a port number");
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("'" + value + "' is not a port number (0 to 65535)");
        }
        return (int) port;
    }

    /** A decimal number of at least {@code minimum}. */
    public static Function<String, Double> decimalAtLeast(double minimum) {
        return value -> {
            double number = decimal(value);
            if (!(number >= minimum)) {
                throw new IllegalArgumentException("'" + value + "' must be at least " + writeDecimal(minimum));
            }
            return number;
        };
    }

    /** A decimal number greater than {@code bound}. */
    public static Function<String, Double> decimalAbove(double bound) {
        return value -> {
            double number = decimal(value);
            if (!(number > bound)) {
                throw new IllegalArgumentException("'" + value + "' must be more than " + writeDecimal(bound));
            }
            return number;
        };
    }

    /** A size in bytes: digits with an optional k, m or g suffix (powers of 1024), e.g. {@code 64m}. */
    public static Long size(String value) {
        String digits = value.strip().toLowerCase(Locale.ROOT);
        long unit = switch (digits.isEmpty() ? ' ' : digits.charAt(digits.length() - 1)) {
            case 'k' -> 1L << 10;
            case 'm' -> 1L << 20;
            case 'g' -> 1L << 30;
            default -> 1;
        };
        if (unit != 1) {
            digits = digits.substring(0, digits.length() - 1);
        }
        try {
            long bytes = Math.multiplyExact(Long.parseLong(digits), unit);
            if (bytes < 0) {
                throw new NumberFormatException();
            }
            return bytes;
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("'" + value + "' is not a size (examples: 4096, 512k, 64m, 1g)");
        }
    }

    /** A size the way {@link #size} reads it, with the largest suffix that divides it. */
    public static String writeSize(long bytes) {
        for (int shift = 30; shift > 0 && bytes != 0; shift -= 10) {
            if (bytes % (1L << shift) == 0) {
                return (bytes >> shift) + (shift == 30 ? "g" : shift == 20 ? "m" : "k");
            }
        }
        return Long.toString(bytes);
    }

    /** {@code HOST:PORT}. */
    public static HostPort address(String value) {
        try {
            return HostPort.parse(value, "address");
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + value + "' is not HOST:PORT");
        }
    }

    /**
     * One of an enum's constants, written in lower case with dashes for underscores ({@code COPY_ALL} is
     * {@code copy-all}); {@code what} names the kind with its article ("a durability").
     */
    public static <E extends Enum<E>> Function<String, E> choice(Class<E> type, String what) {
        return value -> {
            for (E constant : type.getEnumConstants()) {
                if (writeChoice(constant).equals(value.strip().toLowerCase(Locale.ROOT))) {
                    return constant;
                }
            }
            List<String> names = Arrays.stream(type.getEnumConstants()).map(Parsers::writeChoice).toList();
            String known = names.size() == 1 ? names.getFirst()
                    : String.join(", ", names.subList(0, names.size() - 1)) + " or " + names.getLast();
            throw new IllegalArgumentException("'" + value + "' is not " + what + "; use " + known);
        };
    }

    /** An enum constant the way {@link #choice} reads it. */
    public static String writeChoice(Enum<?> constant) {
        return constant.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    private static long whole(String value, String what) {
        try {
            return Long.parseLong(value.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + value + "' is not " + what);
        }
    }

    private static double decimal(String value) {
        try {
            double number = Double.parseDouble(value.strip());
            if (!Double.isFinite(number)) {
                throw new NumberFormatException();
            }
            return number;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + value + "' is not a number");
        }
    }

    /** A decimal number, whole ones without {@code .0}. */
    public static String writeDecimal(double number) {
        return number == Math.rint(number) && Math.abs(number) < 1e15 ? Long.toString((long) number)
                : Double.toString(number);
    }
}
