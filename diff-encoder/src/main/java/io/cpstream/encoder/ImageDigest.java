package io.cpstream.encoder;

import java.lang.foreign.MemorySegment;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * SHA-256 over guest memory in page order: the same value as {@code sha256sum memory.img} of a
 * snapshot, so anyone can check a standby image without cpstream.
 */
public final class ImageDigest {

    /** Bytes hashed per update: large enough to amortise the call, small enough to stay in cache. */
    private static final long CHUNK = 1 << 20;

    private ImageDigest() {
    }

    public static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    public static byte[] sha256(MemorySegment memory) {
        MessageDigest digest = newSha256();
        update(digest, memory);
        return digest.digest();
    }

    public static void update(MessageDigest digest, MemorySegment memory) {
        for (long offset = 0; offset < memory.byteSize(); offset += CHUNK) {
            digest.update(memory.asSlice(offset, Math.min(CHUNK, memory.byteSize() - offset)).asByteBuffer());
        }
    }

    public static byte[] sha256(byte[] bytes) {
        return newSha256().digest(bytes);
    }

    public static String hex(byte[] digest) {
        return HexFormat.of().formatHex(digest);
    }
}
