package io.cpstream.config;

/** {@code HOST:PORT}, as given on a command line or in a config file; an IPv6 host may be in brackets. */
public record HostPort(String host, int port) {

    /** Parses {@code text}; a failure names {@code option}, the flag or key it came from. */
    public static HostPort parse(String text, String option) {
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new IllegalArgumentException(option + " wants HOST:PORT, got '" + text + "'");
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        try {
            int port = Integer.parseInt(text.substring(colon + 1));
            if (port < 0 || port > 65535) {
                throw new NumberFormatException();
            }
            return new HostPort(host, port);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + ": '" + text.substring(colon + 1) + "' is not a port number");
        }
    }

    /** The address as a gRPC target: {@code host:port}, an IPv6 host in brackets. */
    public String target() {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    @Override
    public String toString() {
        return target();
    }
}
