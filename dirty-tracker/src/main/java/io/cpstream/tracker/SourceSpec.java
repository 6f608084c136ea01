package io.cpstream.tracker;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A memory source as a user writes it: {@code kind[:key=value,key=value...]}, for example
 * {@code sim:mem=64m,workload=zipf}. Parsing is strict so a typo is reported, not ignored.
 */
public record SourceSpec(String kind, Map<String, String> params) {

    private static final Pattern KIND = Pattern.compile("[a-z][a-z0-9-]*");
    private static final Pattern KEY = Pattern.compile("[a-z][a-z0-9_-]*");

    public SourceSpec {
        params = Collections.unmodifiableMap(new LinkedHashMap<>(params));
    }

    public static SourceSpec parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("empty source spec; expected kind[:key=value,...], e.g. sim:mem=64m");
        }
        int colon = text.indexOf(':');
        String kind = colon < 0 ? text : text.substring(0, colon);
        if (!KIND.matcher(kind).matches()) {
            throw new IllegalArgumentException("bad source kind '" + kind + "' in '" + text + "'");
        }
        Map<String, String> params = new LinkedHashMap<>();
        if (colon >= 0 && colon < text.length() - 1) {
            for (String part : text.substring(colon + 1).split(",")) {
                int eq = part.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("bad source parameter '" + part + "' in '" + text
                            + "'; expected key=value");
                }
                String key = part.substring(0, eq).trim();
                if (!KEY.matcher(key).matches()) {
                    throw new IllegalArgumentException("bad source parameter name '" + key + "' in '" + text + "'");
                }
                if (params.put(key, part.substring(eq + 1).trim()) != null) {
                    throw new IllegalArgumentException("source parameter '" + key + "' given twice in '" + text + "'");
                }
            }
        }
        return new SourceSpec(kind, params);
    }

    /** Reads parameters and reports any the source did not consume. */
    public Reader reader() {
        return new Reader();
    }

    @Override
    public String toString() {
        if (params.isEmpty()) {
            return kind;
        }
        StringBuilder text = new StringBuilder(kind).append(':');
        params.forEach((k, v) -> text.append(k).append('=').append(v).append(','));
        text.setLength(text.length() - 1);
        return text.toString();
    }

    /** Typed access to the parameters, remembering which were used. */
    public final class Reader {
        private final Map<String, String> unused = new LinkedHashMap<>(params);

        public String string(String key, String fallback) {
            String value = unused.remove(key);
            return value == null ? fallback : value;
        }

        public long integer(String key, long fallback, long min, long max) {
            String value = unused.remove(key);
            if (value == null) {
                return fallback;
            }
            long parsed;
            try {
                parsed = Long.parseLong(value);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(kind + " source: " + key + "=" + value + " is not a whole number");
            }
            return checkRange(key, value, parsed, min, max);
        }

        public double decimal(String key, double fallback, double min, double max) {
            String value = unused.remove(key);
            if (value == null) {
                return fallback;
            }
            double parsed;
            try {
                parsed = Double.parseDouble(value);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(kind + " source: " + key + "=" + value + " is not a number");
            }
            if (!(parsed >= min && parsed <= max)) {
                throw new IllegalArgumentException(kind + " source: " + key + "=" + value + " is outside ["
                        + min + ", " + max + "]");
            }
            return parsed;
        }

        /** A size in bytes, with an optional k/m/g suffix (powers of 1024). */
        public long bytes(String key, long fallback, long min, long max) {
            String value = unused.remove(key);
            if (value == null) {
                return fallback;
            }
            return checkRange(key, value, parseBytes(key, value), min, max);
        }

        public boolean has(String key) {
            return unused.containsKey(key);
        }

        /** Call after reading every parameter: fails on any the source does not know. */
        public void requireAllUsed() {
            if (!unused.isEmpty()) {
                throw new IllegalArgumentException(kind + " source does not know parameter(s) " + unused.keySet());
            }
        }

        private long parseBytes(String key, String value) {
            String digits = value.toLowerCase();
            long unit = 1;
            if (digits.endsWith("k")) {
                unit = 1L << 10;
            } else if (digits.endsWith("m")) {
                unit = 1L << 20;
            } else if (digits.endsWith("g")) {
                unit = 1L << 30;
            }
            if (unit != 1) {
                digits = digits.substring(0, digits.length() - 1);
            }
            try {
                return Math.multiplyExact(Long.parseLong(digits), unit);
            } catch (NumberFormatException | ArithmeticException e) {
                throw new IllegalArgumentException(kind + " source: " + key + "=" + value
                        + " is not a size (examples: 4096, 512k, 64m, 1g)");
            }
        }

        private long checkRange(String key, String value, long parsed, long min, long max) {
            if (parsed < min || parsed > max) {
                throw new IllegalArgumentException(kind + " source: " + key + "=" + value + " is outside ["
                        + min + ", " + max + "]");
            }
            return parsed;
        }
    }
}
