package io.cpstream.agent.output;

import io.cpstream.security.TlsSettings;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;

/** Opens the sink an {@code --output-sink} names: {@code none}, {@code file:PATH} or {@code tcp://HOST:PORT}. */
public final class OutputSinks {

    private OutputSinks() {
    }

    /** A sink over plaintext (tcp:// to a sink run with {@code --insecure}). */
    public static OutputSink open(String spec) throws IOException {
        return open(spec, TlsSettings.INSECURE);
    }

    /** The sink {@code spec} names; a {@code tcp://} one with mutual TLS unless {@code tls} is insecure. */
    public static OutputSink open(String spec, TlsSettings tls) throws IOException {
        if (spec == null || spec.equals("none")) {
            return new Discard();
        }
        if (spec.startsWith("file:")) {
            String path = spec.substring("file:".length());
            if (path.isEmpty()) {
                throw new IllegalArgumentException("output sink 'file:' needs a path, e.g. file:/var/lib/cpstream/out.log");
            }
            return new FileOutputSink(Path.of(path));
        }
        if (spec.startsWith("tcp://")) {
            URI uri = URI.create(spec);
            if (uri.getHost() == null || uri.getPort() < 1) {
                throw new IllegalArgumentException("output sink '" + spec + "' needs a host and port, e.g. tcp://10.0.0.5:7800");
            }
            return new TcpOutputSink(uri.getHost(), uri.getPort(), tls);
        }
        throw new IllegalArgumentException("unknown output sink '" + spec + "'; use none, file:PATH or tcp://HOST:PORT");
    }

    /** {@code none}: output is held until committed, then dropped (the guest has no outside world). */
    private static final class Discard implements OutputSink {
        private long next = NO_HISTORY;

        @Override
        public long open(String vm, long fencingEpoch) {
            return next;
        }

        @Override
        public void write(long first, List<byte[]> records) {
            next = first + records.size();
        }

        @Override
        public void close() {
        }

        @Override
        public String toString() {
            return "none";
        }
    }
}
