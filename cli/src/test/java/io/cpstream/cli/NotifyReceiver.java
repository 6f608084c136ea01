package io.cpstream.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * What systemd does for {@code Type=notify}: binds an AF_UNIX datagram socket and reads what the
 * daemon sends to it. Through libc via FFM, as Java's channels cannot do AF_UNIX datagrams.
 */
public final class NotifyReceiver implements AutoCloseable {

    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int MSG_DONTWAIT = 0x40;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle SOCKET = handle("socket",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle BIND = handle("bind",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle RECV = handle("recv",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_INT));
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private final String name;
    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(4096);

    /** @param name a filesystem path, or {@code @name} for the abstract namespace */
    public NotifyReceiver(String name) throws Throwable {
        this.name = name;
        fd = (int) SOCKET.invokeExact(AF_UNIX, SOCK_DGRAM, 0);
        if (fd < 0) {
            throw new IllegalStateException("socket failed");
        }
        byte[] path = name.getBytes(StandardCharsets.UTF_8);
        MemorySegment address = arena.allocate(110);
        address.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(path, 0, address, ValueLayout.JAVA_BYTE, 2, path.length);
        boolean isAbstract = path[0] == '@';
        if (isAbstract) {
            address.set(ValueLayout.JAVA_BYTE, 2, (byte) 0);
        }
        int result = (int) BIND.invokeExact(fd, address, 2 + path.length + (isAbstract ? 0 : 1));
        if (result != 0) {
            throw new IllegalStateException("bind " + name + " failed");
        }
    }

    public static NotifyReceiver at(Path path) throws Throwable {
        return new NotifyReceiver(path.toString());
    }

    /** What to put in $NOTIFY_SOCKET. */
    public String name() {
        return name;
    }

    /** The next datagram, or null if none is waiting. */
    public String poll() {
        long n;
        try {
            n = (long) RECV.invokeExact(fd, buffer, buffer.byteSize(), MSG_DONTWAIT);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
        return n < 0 ? null : new String(buffer.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        } finally {
            arena.close();
        }
    }

    private static MethodHandle handle(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(LINKER.defaultLookup().findOrThrow(name), descriptor);
    }
}
