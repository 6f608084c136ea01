package io.cpstream.cli;

import java.util.Locale;

/** A size in bytes as given on the command line: digits with an optional k, m or g suffix (powers of 1024). */
final class ByteSize {

    private ByteSize() {
    }

    static long parse(String text, String option) {
        String digits = text.trim().toLowerCase(Locale.ROOT);
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
            long value = Math.multiplyExact(Long.parseLong(digits), unit);
            if (value < 0) {
                throw new NumberFormatException();
            }
            return value;
        } catch (NumberFormatException | ArithmeticException e) {
            throw new Errors.UserError(option + ": '" + text + "' is not a size (examples: 4096, 512k, 64m, 1g)");
        }
    }
}
