package io.cpstream.tracker.replay;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * An execution trace of a replayed emu guest, as the shim writes it ({@code cpstream replay --trace
 * instructions,memory,ports}); the format is EXECUTION-TRACE-FORMAT.md, version 1: a 32-byte header (magic
 * {@code "CPSXTRAC"}, version, the kinds traced, the port access it began at), then 32-byte records, the last of kind
 * 0xff with the record count. This class names the kinds and reads a trace back, refusing anything it does not know.
 */
public final class ExecutionTrace {

    public static final long MAGIC = 0x4341525458535043L; // "CPSXTRAC" read little-endian
    public static final int VERSION = 1;
    static final int RECORD = 32;
    private static final int END = 0xff;

    /** What a trace can hold; {@code bit} is the shim's CPS_XTRACE_* number. */
    public enum Kind {
        /** Every instruction executed: address = RIP, size = its length. */
        INSTRUCTION(1),
        /** Every store the guest's code made: address = its (identity-mapped) address, size, value stored. */
        MEMORY_WRITE(2),
        /** Every IN: port, size, the value the guest got. */
        PORT_IN(3),
        /** Every OUT: port, size, the value it wrote. */
        PORT_OUT(4);

        final int bit;

        Kind(int bit) {
            this.bit = bit;
        }

        static Kind of(int bit) {
            for (Kind kind : values()) {
                if (kind.bit == bit) {
                    return kind;
                }
            }
            return null;
        }
    }

    /** One event: {@code position} is the port accesses the guest had made before it. */
    public record Entry(Kind kind, int size, int port, long position, long address, long value) {
    }

    /** A whole trace, read: its kinds, where it began and ended (port accesses), and the events of each kind. */
    public record Summary(Set<Kind> kinds, long startPosition, long endPosition, long records, Map<Kind, Long> counts) {
    }

    private ExecutionTrace() {
    }

    /** The shim's mask for {@code kinds}. */
    public static int mask(Set<Kind> kinds) {
        int mask = 0;
        for (Kind kind : kinds) {
            mask |= 1 << kind.bit;
        }
        return mask;
    }

    /**
     * The kinds a user names ({@code instructions}, {@code memory}, {@code ports}).
     *
     * @throws IllegalArgumentException naming the ones known
     */
    public static Set<Kind> parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "instructions" -> EnumSet.of(Kind.INSTRUCTION);
            case "memory" -> EnumSet.of(Kind.MEMORY_WRITE);
            case "ports" -> EnumSet.of(Kind.PORT_IN, Kind.PORT_OUT);
            default -> throw new IllegalArgumentException("unknown trace '" + name
                    + "'; known: instructions, memory, ports (and pages, a dirty-page trace)");
        };
    }

    /**
     * Reads {@code file}, handing every event to {@code each}.
     *
     * @throws IOException a file that is not such a trace, of a newer version, or cut short (no end record)
     */
    public static Summary read(Path file, Consumer<Entry> each) throws IOException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 20)) {
            ByteBuffer header = ByteBuffer.wrap(readFully(in, file)).order(ByteOrder.LITTLE_ENDIAN);
            if (header.getLong() != MAGIC) {
                throw new IOException(file + " is not an execution trace (bad magic)");
            }
            int version = header.getInt();
            if (version != VERSION) {
                throw new IOException(file + " is an execution trace of version " + version + "; this cpstream reads "
                        + VERSION);
            }
            int mask = header.getInt();
            Set<Kind> kinds = EnumSet.noneOf(Kind.class);
            for (Kind kind : Kind.values()) {
                if ((mask & (1 << kind.bit)) != 0) {
                    kinds.add(kind);
                }
            }
            long start = header.getLong();
            Map<Kind, Long> counts = new EnumMap<>(Kind.class);
            kinds.forEach(kind -> counts.put(kind, 0L));
            long records = 0;
            long position = start;
            while (true) {
                ByteBuffer record = ByteBuffer.wrap(readFully(in, file)).order(ByteOrder.LITTLE_ENDIAN);
                int code = Byte.toUnsignedInt(record.get());
                int size = Byte.toUnsignedInt(record.get());
                int port = Short.toUnsignedInt(record.getShort());
                record.getInt();
                long at = record.getLong();
                long address = record.getLong();
                long value = record.getLong();
                if (code == END) {
                    if (address != records || in.read() != -1) {
                        throw new IOException(file + ": the end record counts " + address + " records, the file holds "
                                + records + (in.read() != -1 ? " and more after it" : ""));
                    }
                    return new Summary(kinds, start, at, records, counts);
                }
                Kind kind = Kind.of(code);
                if (kind == null || !kinds.contains(kind) || at < position) {
                    throw new IOException(file + ": record " + records + " is malformed (kind " + code
                            + ", position " + at + ")");
                }
                position = at;
                counts.merge(kind, 1L, Long::sum);
                records++;
                each.accept(new Entry(kind, size, port, at, address, value));
            }
        }
    }

    private static byte[] readFully(InputStream in, Path file) throws IOException {
        byte[] bytes = in.readNBytes(RECORD);
        if (bytes.length < RECORD) {
            throw new EOFException(file + " was cut short: it has no end record");
        }
        return bytes;
    }
}
