package io.cpstream.collector;

import io.grpc.netty.shaded.io.netty.channel.Channel;
import io.grpc.netty.shaded.io.netty.channel.ServerChannel;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The collector's cap on open connections. gRPC has no such limit of its own, so the server's listening channel is
 * one that counts what it accepts: a socket accepted beyond the cap is closed at once, before TLS, before any buffer
 * is allocated for it. The peer sees its connection closed (a gRPC client: UNAVAILABLE) and may try again once
 * others have gone; the handshake and idle timeouts make sure stalled ones do go.
 */
final class ConnectionLimit {

    private static final System.Logger LOG = System.getLogger(ConnectionLimit.class.getName());
    /** At most one warning this often: a flood must not become a flood of log lines. */
    private static final long WARNING_INTERVAL_NANOS = 10_000_000_000L;

    private final int max;
    private final AtomicInteger open = new AtomicInteger();
    private final AtomicLong refused = new AtomicLong();
    private final AtomicLong lastWarning = new AtomicLong(System.nanoTime() - WARNING_INTERVAL_NANOS);

    ConnectionLimit(int max) {
        if (max < 1) {
            throw new IllegalArgumentException("max connections must be at least 1");
        }
        this.max = max;
    }

    /** A new listening channel that applies this limit (Netty's channel factory). */
    ServerChannel newChannel() {
        return new Gated();
    }

    /** Connections open now. */
    int open() {
        return open.get();
    }

    /** Connections closed because the limit was reached, since start. */
    long refused() {
        return refused.get();
    }

    private void refuse(Channel child) {
        long total = refused.incrementAndGet();
        // A channel not registered yet: closed right here, its socket and nothing else.
        child.unsafe().closeForcibly();
        long now = System.nanoTime();
        long last = lastWarning.get();
        if (now - last >= WARNING_INTERVAL_NANOS && lastWarning.compareAndSet(last, now)) {
            LOG.log(System.Logger.Level.WARNING, "{0} connections open, the limit (max-connections): refusing new ones "
                    + "({1} refused since start)", max, total);
        }
    }

    /** The NIO listening socket, counting each accepted connection until it closes. */
    private final class Gated extends NioServerSocketChannel {
        @Override
        protected int doReadMessages(List<Object> accepted) throws Exception {
            int first = accepted.size();
            int read = super.doReadMessages(accepted);
            for (int i = accepted.size() - 1; i >= first; i--) {
                Channel child = (Channel) accepted.get(i);
                if (open.incrementAndGet() > max) {
                    open.decrementAndGet();
                    accepted.remove(i);
                    read--;
                    refuse(child);
                } else {
                    // Completed on the child's event loop once it is registered, whoever closes it.
                    child.closeFuture().addListener(closed -> open.decrementAndGet());
                }
            }
            return read;
        }
    }
}
