package io.cpstream.agent.output;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * ASCII lines from a peer, each at most a given length (a longer one is an error, never a growing buffer), and all of
 * them by a deadline: a peer that stops sending, or sends a byte at a time, cannot hold a line open for longer.
 *
 * <p>The reader stays thread-per-connection on a blocking socket: the deadline is kept by giving each read from the
 * socket a read timeout of the time left, so no other thread watches the connection.
 */
final class BoundedLines {

    private final Socket socket;
    private final InputStream in;
    private final byte[] buffer = new byte[64 << 10];
    private int position;
    private int limit;
    /** Bytes received from the socket, ever: what a deadline's rate credit counts. */
    private long received;
    /** {@link System#nanoTime()} by which the reads must end, before credit. */
    private long deadline;
    /** {@link #received} when the deadline was set. */
    private long receivedAtDeadline;
    /** Nanoseconds each byte received since the deadline was set adds to it; 0: none. */
    private long creditNanosPerByte;

    BoundedLines(Socket socket) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
        deadline(Long.MAX_VALUE, 0);
    }

    /**
     * Bounds the reads from now on: they must end within {@code nanos}, and every {@code bytesPerSecond} bytes that
     * arrive meanwhile give them a second more (0: no credit). A peer sending at least that fast always finishes,
     * one sending slower runs out of time. {@code nanos} of {@link Long#MAX_VALUE}: no deadline.
     */
    void deadline(long nanos, long bytesPerSecond) {
        long now = System.nanoTime();
        this.deadline = nanos == Long.MAX_VALUE || now + nanos < now ? Long.MAX_VALUE : now + nanos;
        this.receivedAtDeadline = received;
        this.creditNanosPerByte = bytesPerSecond <= 0 ? 0 : Math.max(1, 1_000_000_000L / bytesPerSecond);
    }

    /**
     * The next line without its {@code \n}, or null at the end of the stream; IOException beyond {@code max};
     * {@link SocketTimeoutException} once the deadline has passed.
     */
    String readLine(int max) throws IOException {
        byte[] line = new byte[Math.min(max, 256)];
        int length = 0;
        while (true) {
            if (position == limit && !fill()) {
                if (length == 0) {
                    return null;
                }
                throw new IOException("the stream ended inside a line");
            }
            byte b = buffer[position++];
            if (b == '\n') {
                return new String(line, 0, length, StandardCharsets.US_ASCII);
            }
            if (length == max) {
                throw new IOException("a line longer than " + max + " bytes");
            }
            if (length == line.length) {
                line = java.util.Arrays.copyOf(line, Math.min(max, line.length * 2));
            }
            line[length++] = b;
        }
    }

    /** Reads what the peer has sent, waiting at most until the deadline; false at the end of the stream. */
    private boolean fill() throws IOException {
        if (deadline == Long.MAX_VALUE) {
            socket.setSoTimeout(0);
        } else {
            long left = deadline + (received - receivedAtDeadline) * creditNanosPerByte - System.nanoTime();
            if (left <= 0) {
                throw new SocketTimeoutException("the deadline passed");
            }
            // At least 1 ms: a timeout of 0 would mean none at all.
            socket.setSoTimeout((int) Math.clamp((left + 999_999) / 1_000_000, 1, Integer.MAX_VALUE));
        }
        int read = in.read(buffer);
        if (read < 0) {
            return false;
        }
        position = 0;
        limit = read;
        received += read;
        return true;
    }
}
