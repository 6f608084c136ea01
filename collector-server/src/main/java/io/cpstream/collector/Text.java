package io.cpstream.collector;

/** Client strings as they may appear in statuses and logs: bounded, control characters escaped, quoted. */
final class Text {

    /** At most this many characters of a client string are shown. */
    static final int SHOWN = 80;

    private Text() {
    }

    static String quote(String value) {
        StringBuilder out = new StringBuilder("'");
        int shown = Math.min(value.length(), SHOWN);
        for (int i = 0; i < shown; i++) {
            char c = value.charAt(i);
            if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\' || (c >= 0x80 && Character.isISOControl(c))
                    || Character.isSurrogate(c) || c == '\u2028' || c == '\u2029') {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        if (value.length() > shown) {
            out.append("...(").append(value.length()).append(" chars)");
        }
        return out.append('\'').toString();
    }
}
