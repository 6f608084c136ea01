package io.cpstream.agent.output;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/** ASCII lines from a peer, each at most a given length: a longer one is an error, never a growing buffer. */
final class BoundedLines {

    private final InputStream in;

    BoundedLines(InputStream in) {
        this.in = new BufferedInputStream(in, 64 << 10);
    }

    /** The next line without its {@code \n}, or null at the end of the stream; IOException beyond {@code max}. */
    String readLine(int max) throws IOException {
        byte[] line = new byte[Math.min(max, 256)];
        int length = 0;
        while (true) {
            int b = in.read();
            if (b < 0) {
                if (length == 0) {
                    return null;
                }
                throw new IOException("the stream ended inside a line");
            }
            if (b == '\n') {
                return new String(line, 0, length, StandardCharsets.US_ASCII);
            }
            if (length == max) {
                throw new IOException("a line longer than " + max + " bytes");
            }
            if (length == line.length) {
                line = java.util.Arrays.copyOf(line, Math.min(max, line.length * 2));
            }
            line[length++] = (byte) b;
        }
    }
}
