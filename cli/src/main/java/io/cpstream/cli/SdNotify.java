package io.cpstream.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;

/**
 * systemd's readiness protocol ({@code Type=notify}): a datagram such as {@code READY=1} sent to the
 * AF_UNIX socket named by {@code $NOTIFY_SOCKET}. Java's channels cannot send AF_UNIX datagrams, so
 * this calls libc's socket/sendto/close through the FFM API. Without {@code $NOTIFY_SOCKET} (not run
 * by systemd) every call does nothing.
 */
final class SdNotify {

    private static final System.Logger LOG = System.getLogger(SdNotify.class.getName());
    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int MSG_NOSIGNAL = 0x4000;
    /** sizeof(sockaddr_un.sun_path) on Linux. */
    private static final int SUN_PATH_BYTES = 108;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout ERRNO_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = ERRNO_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    private static final MethodHandle SOCKET = libc("socket",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle SENDTO = libc("sendto",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle CLOSE = LINKER.downcallHandle(LINKER.defaultLookup().findOrThrow("close"),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private SdNotify() {
    }

    /** Tells systemd the daemon is up (ends the start job of a {@code Type=notify} unit). */
    static boolean ready(String status) {
        return send("READY=1\nSTATUS=" + status + "\nMAINPID=" + ProcessHandle.current().pid());
    }

    /** Tells systemd the daemon is shutting down. */
    static boolean stopping(String status) {
        return send("STOPPING=1\nSTATUS=" + status);
    }

    /**
     * Sends {@code state} to {@code $NOTIFY_SOCKET}; false when not run by systemd or when sending
     * failed (logged: a daemon keeps running, or keeps stopping, when systemd cannot be told).
     */
    static boolean send(String state) {
        try {
            return send(System.getenv("NOTIFY_SOCKET"), state);
        } catch (IllegalStateException e) {
            LOG.log(System.Logger.Level.WARNING, "sd_notify: {0}", e.getMessage());
            return false;
        }
    }

    /**
     * Sends {@code state} to the socket at {@code socketPath} (a leading {@code @} means the abstract
     * namespace); false when {@code socketPath} is null or empty.
     *
     * @throws IllegalStateException when the socket cannot be reached, with libc's reason
     */
    static boolean send(String socketPath, String state) {
        if (socketPath == null || socketPath.isEmpty()) {
            return false;
        }
        byte[] path = socketPath.getBytes(StandardCharsets.UTF_8);
        boolean isAbstract = path[0] == '@';
        if (path.length >= SUN_PATH_BYTES) {
            throw new IllegalStateException("NOTIFY_SOCKET path is too long: " + socketPath);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = arena.allocate(ERRNO_STATE);
            // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
            MemorySegment address = arena.allocate(2 + SUN_PATH_BYTES);
            address.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
            MemorySegment.copy(path, 0, address, ValueLayout.JAVA_BYTE, 2, path.length);
            if (isAbstract) {
                address.set(ValueLayout.JAVA_BYTE, 2, (byte) 0);
            }
            // Abstract names are exactly their bytes; a filesystem path carries its terminating NUL.
            int addressLength = 2 + path.length + (isAbstract ? 0 : 1);
            byte[] bytes = state.getBytes(StandardCharsets.UTF_8);
            MemorySegment message = arena.allocateFrom(ValueLayout.JAVA_BYTE, bytes);

            int fd = (int) SOCKET.invokeExact(errno, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw new IllegalStateException("socket(AF_UNIX, SOCK_DGRAM) failed: errno " + (int) ERRNO.get(errno, 0L));
            }
            try {
                long sent = (long) SENDTO.invokeExact(errno, fd, message, (long) bytes.length, MSG_NOSIGNAL, address,
                        addressLength);
                if (sent < 0) {
                    throw new IllegalStateException("cannot notify systemd at " + socketPath + ": errno "
                            + (int) ERRNO.get(errno, 0L));
                }
            } finally {
                int ignored = (int) CLOSE.invokeExact(fd);
            }
            return true;
        } catch (IllegalStateException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("cannot notify systemd: " + e, e);
        }
    }

    private static MethodHandle libc(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(LINKER.defaultLookup().findOrThrow(name), descriptor, CAPTURE_ERRNO);
    }
}
