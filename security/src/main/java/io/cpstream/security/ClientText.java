package io.cpstream.security;

/**
 * A string a peer chose (a VM id, an agent id, a certificate's name, a request line) as it may appear in a log line
 * or a status message: bounded, and with every character that could forge a line or a terminal escape written as
 * {@code \\uXXXX}. A certificate's name is the client's own string even though the CA signed it.
 */
public final class ClientText {

    /** At most this many characters of a client string are shown by {@link #quote}. */
    public static final int SHOWN = 80;

    private ClientText() {
    }

    /** {@code text} in single quotes, at most {@value #SHOWN} characters of it. */
    public static String quote(String text) {
        return "'" + escape(text, SHOWN) + "'";
    }

    /**
     * At most {@code shown} characters of {@code text}, then how many it had. Only printable ASCII is shown as it is;
     * every other character (controls, DEL, anything beyond ASCII: line separators, bidirectional overrides, look-alike
     * letters), the quote and the backslash (so that an escape in the output is always one this method wrote) are
     * escaped.
     */
    public static String escape(String text, int shown) {
        StringBuilder out = new StringBuilder();
        int end = Math.min(text.length(), shown);
        for (int i = 0; i < end; i++) {
            char c = text.charAt(i);
            if (c < 0x20 || c > 0x7e || c == '\'' || c == '\\') {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        if (text.length() > end) {
            out.append("...(").append(text.length()).append(" characters)");
        }
        return out.toString();
    }
}
