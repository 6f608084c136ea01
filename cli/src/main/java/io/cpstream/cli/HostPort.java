package io.cpstream.cli;

/** {@code HOST:PORT} as given on the command line. */
record HostPort(String host, int port) {

    static HostPort parse(String text, String option) {
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new Errors.UserError(option + " wants HOST:PORT, got '" + text + "'");
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
            throw new Errors.UserError(option + ": '" + text.substring(colon + 1) + "' is not a port number");
        }
    }

    String target() {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
}
