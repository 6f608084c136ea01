package io.cpstream.collector;

import io.cpstream.security.ClientText;
import io.cpstream.security.Identity;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.Set;

/**
 * Every admin action, one line each: when, who (the certificate's name and role), what, on which VM, and the
 * result. Lines go to the collector's log and, when configured ({@code --audit-log}), are appended to a file
 * (0600) and forced. Client strings in a line are bounded and escaped, so a line is always one line.
 */
final class AuditLog implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("io.cpstream.collector.audit");

    private final FileChannel file;

    AuditLog(Path path) throws IOException {
        this.file = path == null ? null : FileChannel.open(path, Set.of(StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, StandardOpenOption.APPEND),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    }

    synchronized void record(Identity who, String action, String vm, String result) {
        String line = "audit time=" + Instant.now() + " who=" + ClientText.quote(who.toString()) + " action=" + action
                + " vm=" + ClientText.quote(vm) + " result=" + ClientText.quote(result);
        LOG.log(System.Logger.Level.INFO, line);
        if (file != null) {
            try {
                ByteBuffer bytes = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
                while (bytes.hasRemaining()) {
                    file.write(bytes);
                }
                file.force(false);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.ERROR, "cannot append to the audit log: " + e.getMessage());
            }
        }
    }

    @Override
    public synchronized void close() throws IOException {
        if (file != null) {
            file.close();
        }
    }
}
