package io.cpstream.harness.attack;

import io.cpstream.proto.ReplicationGrpc;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * HTTP/2 written by hand, as an attacker writes it: the client preface, an empty SETTINGS frame, the HEADERS of a
 * replication {@code Stream} call (HPACK literals, no table, no Huffman) and DATA frames that may be cut short. No
 * client library would send a partial frame, so the attacks need their own bytes.
 */
final class RawHttp2 {

    private static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final int DATA = 0x0;
    private static final int HEADERS = 0x1;
    private static final int SETTINGS = 0x4;
    private static final int END_HEADERS = 0x4;

    private RawHttp2() {
    }

    /** Preface, SETTINGS and the HEADERS opening stream 1 as a call of the replication {@code Stream} method. */
    static byte[] openStream(String scheme) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(PREFACE);
        frame(out, SETTINGS, 0, 0, new byte[0], 0);
        ByteArrayOutputStream block = new ByteArrayOutputStream();
        literal(block, ":method", "POST");
        literal(block, ":scheme", scheme);
        literal(block, ":path", "/" + ReplicationGrpc.getStreamMethod().getFullMethodName());
        literal(block, ":authority", "localhost");
        literal(block, "content-type", "application/grpc");
        literal(block, "te", "trailers");
        byte[] headers = block.toByteArray();
        frame(out, HEADERS, END_HEADERS, 1, headers, headers.length);
        return out.toByteArray();
    }

    /**
     * A DATA frame on stream 1 whose header declares {@code declared} bytes, of which the first {@code sent} follow:
     * a gRPC message prefix announcing {@code messageBytes}, then zeros. {@code sent < declared} is a partial frame.
     */
    static byte[] partialData(int declared, int sent, int messageBytes) {
        byte[] payload = new byte[sent];
        if (sent >= 5) {
            payload[0] = 0; // not compressed
            payload[1] = (byte) (messageBytes >>> 24);
            payload[2] = (byte) (messageBytes >>> 16);
            payload[3] = (byte) (messageBytes >>> 8);
            payload[4] = (byte) messageBytes;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        frameHeader(out, declared, DATA, 0, 1);
        out.writeBytes(payload);
        return out.toByteArray();
    }

    /** One whole gRPC message ({@code message}, serialized) as a DATA frame on stream 1. */
    static byte[] message(byte[] message) {
        byte[] payload = new byte[5 + message.length];
        payload[1] = (byte) (message.length >>> 24);
        payload[2] = (byte) (message.length >>> 16);
        payload[3] = (byte) (message.length >>> 8);
        payload[4] = (byte) message.length;
        System.arraycopy(message, 0, payload, 5, message.length);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        frame(out, DATA, 0, 1, payload, payload.length);
        return out.toByteArray();
    }

    private static void frame(ByteArrayOutputStream out, int type, int flags, int stream, byte[] payload, int length) {
        frameHeader(out, length, type, flags, stream);
        out.write(payload, 0, length);
    }

    private static void frameHeader(ByteArrayOutputStream out, int length, int type, int flags, int stream) {
        out.write(length >>> 16);
        out.write(length >>> 8);
        out.write(length);
        out.write(type);
        out.write(flags);
        out.write(stream >>> 24);
        out.write(stream >>> 16);
        out.write(stream >>> 8);
        out.write(stream);
    }

    /** HPACK "literal header field without indexing, new name" with short, plain strings (RFC 7541, 6.2.2). */
    private static void literal(ByteArrayOutputStream out, String name, String value) {
        out.write(0x00);
        string(out, name);
        string(out, value);
    }

    private static void string(ByteArrayOutputStream out, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
        if (bytes.length >= 127) {
            throw new IllegalArgumentException("only short strings: " + text);
        }
        out.write(bytes.length);
        out.writeBytes(bytes);
    }
}
