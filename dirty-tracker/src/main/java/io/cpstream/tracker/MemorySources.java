package io.cpstream.tracker;

import io.cpstream.tracker.kvm.KvmSource;
import io.cpstream.tracker.process.ProcessSource;
import io.cpstream.tracker.sim.SimSource;
import io.cpstream.tracker.trace.TraceSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Opens a memory source from its spec. One place knows every backend: {@link #KINDS}, one entry per kind.
 * A new kind is a class in this module and one entry there; everything outside asks the {@link MemorySource}
 * for its capabilities ({@link MemorySource#protectionUnavailable()}, {@link MemorySource#fault()}, ...)
 * instead of testing which kind it is.
 */
public final class MemorySources {

    /** What {@code ./cpstream agent} protects when no source is given. */
    public static final String DEFAULT_SPEC = "sim:mem=64m,workload=mixed";

    /** Brings a guest of one kind back from a checkpoint: its memory image and device state at one stun. */
    @FunctionalInterface
    private interface Restore {
        MemorySource restore(SourceSpec spec, MemorySegment memory, byte[] deviceState);
    }

    /**
     * One kind of source.
     *
     * @param name          the kind, as a spec starts: {@code name:key=value,...}
     * @param example       a spec of this kind, for error messages
     * @param open          opens a guest from a spec of this kind
     * @param restore       restores a guest from a checkpoint, or null if this kind cannot be
     * @param bareParameter the one parameter a spec may give bare ({@code process:1234}), or null
     */
    private record Kind(String name, String example, Function<SourceSpec, MemorySource> open, Restore restore,
                        String bareParameter) {
    }

    private static final Map<String, Kind> KINDS = table(
            new Kind("sim", DEFAULT_SPEC, SimSource::open, SimSource::restore, null),
            new Kind("kvm", "kvm:guest=counter,mem=64m", KvmSource::open, KvmSource::restore, null),
            new Kind("emu", "emu:guest=counter,mem=64m", KvmSource::open, KvmSource::restore, null),
            new Kind("process", "process:pid=1234", ProcessSource::open, null, "pid"),
            new Kind("trace", "trace:file=redis.cpt", TraceSource::open, null, "file"));

    private MemorySources() {
    }

    public static MemorySource open(SourceSpec spec) {
        Kind kind = KINDS.get(spec.kind());
        if (kind == null) {
            throw new IllegalArgumentException("unknown source kind '" + spec.kind() + "'; known: "
                    + KINDS.values().stream().map(k -> k.name() + " (e.g. " + k.example() + ")")
                            .collect(Collectors.joining(", ")));
        }
        return kind.open().apply(spec);
    }

    public static MemorySource open(String spec) {
        return open(parse(spec));
    }

    /** Parses a spec, also in the short form {@code kind:value} for kinds with a bare parameter. */
    public static SourceSpec parse(String text) {
        int colon = text == null ? -1 : text.indexOf(':');
        if (colon > 0) {
            String key = Optional.ofNullable(KINDS.get(text.substring(0, colon))).map(Kind::bareParameter).orElse(null);
            String value = text.substring(colon + 1);
            if (key != null && !value.isEmpty() && !value.contains("=")) {
                return new SourceSpec(text.substring(0, colon), Map.of(key, value));
            }
        }
        return SourceSpec.parse(text);
    }

    /**
     * Brings a guest back from a checkpoint: the memory image and the device state captured at one stun,
     * and the spec it was protected with. {@link MemorySource#start()} resumes it from that instant (for
     * sim, its writers carry on from that memory).
     */
    public static MemorySource restore(SourceSpec spec, MemorySegment memory, byte[] deviceState) {
        Kind kind = KINDS.get(spec.kind());
        if (kind == null || kind.restore() == null) {
            throw new IllegalArgumentException("a " + spec.kind() + " source cannot be restored from a "
                    + "checkpoint; restorable kinds: " + KINDS.values().stream().filter(k -> k.restore() != null)
                            .map(Kind::name).collect(Collectors.joining(", ")));
        }
        return kind.restore().restore(spec, memory, deviceState);
    }

    /** As {@link #restore(SourceSpec, MemorySegment, byte[])}, with the memory image in a file (mapped, not read). */
    public static MemorySource restore(SourceSpec spec, Path memoryImage, byte[] deviceState) {
        try (Arena arena = Arena.ofConfined();
             FileChannel channel = FileChannel.open(memoryImage, StandardOpenOption.READ)) {
            return restore(spec, channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena), deviceState);
        } catch (IOException e) {
            throw new UncheckedIOException("reading memory image " + memoryImage, e);
        }
    }

    private static Map<String, Kind> table(Kind... kinds) {
        Map<String, Kind> table = new LinkedHashMap<>();
        for (Kind kind : kinds) {
            if (table.put(kind.name(), kind) != null) {
                throw new IllegalStateException("two source kinds are named " + kind.name());
            }
        }
        return Collections.unmodifiableMap(table);
    }
}
