package io.cpstream.tracker.replay;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * What quasi-lockstep compares of one output: the first 8 bytes of the SHA-256 of its payload, little-endian. The
 * primary's agent sends it for each output it emits; the collector computes it for each output its secondary emits.
 * Eight bytes keep the comparison to a fraction of the output stream, and a 64-bit slice of SHA-256 makes an
 * accidental match of two different outputs a 2^-64 event (the primary is no adversary of its own outputs).
 */
public final class OutputDigest {

    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK provides SHA-256", e);
        }
    });

    private OutputDigest() {
    }

    public static long of(byte[] payload) {
        MessageDigest sha = SHA256.get();
        byte[] full = sha.digest(payload);
        return ByteBuffer.wrap(full, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }
}
