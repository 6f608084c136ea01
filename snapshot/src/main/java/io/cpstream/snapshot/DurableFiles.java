package io.cpstream.snapshot;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The file operations standbys and snapshots are made of: private (guest memory is nobody else's to read:
 * directories 0700, files 0600, whatever the umask, which can only take bits away) and, where asked,
 * durable (data forced, and the directory entry of a rename forced too, or a power loss can undo the rename
 * although the data survived).
 */
public final class DurableFiles {

    private static final FileAttribute<Set<PosixFilePermission>> PRIVATE_DIRECTORY =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
    private static final FileAttribute<Set<PosixFilePermission>> PRIVATE_FILE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));

    private DurableFiles() {
    }

    /** Creates {@code directory} and missing parents, each new one readable by this user only. */
    public static void createPrivateDirectories(Path directory) throws IOException {
        Path absolute = directory.toAbsolutePath();
        if (Files.isDirectory(absolute)) {
            return;
        }
        Path parent = absolute.getParent();
        if (parent != null) {
            createPrivateDirectories(parent);
        }
        try {
            Files.createDirectory(absolute, PRIVATE_DIRECTORY);
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(absolute)) {
                throw e;
            }
        }
    }

    /** Opens a new file for writing, readable by this user only; fails if it exists. */
    public static FileChannel createPrivate(Path file) throws IOException {
        return FileChannel.open(file, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), PRIVATE_FILE);
    }

    /** Opens {@code file} for reading and writing, creating it readable by this user only if it is missing. */
    public static FileChannel openPrivate(Path file) throws IOException {
        return FileChannel.open(file, Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE), PRIVATE_FILE);
    }

    /** Writes a new private file holding {@code bytes}, forced to stable storage. */
    public static void write(Path file, byte[] bytes) throws IOException {
        try (FileChannel channel = createPrivate(file)) {
            writeFully(channel, ByteBuffer.wrap(bytes));
            channel.force(true);
        }
    }

    /**
     * Replaces {@code file} with {@code bytes} so that a crash leaves either the old or the new content. With
     * {@code durable}, the new content also survives a power loss once this returns: the data is forced before
     * the rename, and the directory after it.
     */
    public static void replace(Path file, byte[] bytes, boolean durable) throws IOException {
        Path temp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.deleteIfExists(temp);
        try (FileChannel channel = createPrivate(temp)) {
            writeFully(channel, ByteBuffer.wrap(bytes));
            if (durable) {
                channel.force(true);
            }
        }
        try {
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("the file system of " + file.getParent() + " cannot rename atomically", e);
        }
        if (durable) {
            forceDirectory(file.getParent());
        }
    }

    /** Makes the entries of {@code directory} (creations, renames) durable. */
    public static void forceDirectory(Path directory) throws IOException {
        try (FileChannel dir = FileChannel.open(directory, StandardOpenOption.READ)) {
            dir.force(true);
        }
    }

    public static void deleteRecursively(Path path) throws IOException {
        if (!Files.exists(path)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(path)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    public static void writeFully(FileChannel channel, ByteBuffer bytes) throws IOException {
        while (bytes.hasRemaining()) {
            channel.write(bytes);
        }
    }
}
