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
import java.util.Map;

/** Opens a memory source from its spec. One place knows every backend. */
public final class MemorySources {

    /** What {@code ./cpstream agent} protects when no source is given. */
    public static final String DEFAULT_SPEC = "sim:mem=64m,workload=mixed";

    private MemorySources() {
    }

    public static MemorySource open(SourceSpec spec) {
        return switch (spec.kind()) {
            case "sim" -> SimSource.open(spec);
            case "kvm" -> KvmSource.open(spec);
            case "process" -> ProcessSource.open(spec);
            case "trace" -> TraceSource.open(spec);
            default -> throw new IllegalArgumentException("unknown source kind '" + spec.kind()
                    + "'; known: sim (e.g. " + DEFAULT_SPEC + "), kvm (e.g. kvm:guest=counter,mem=64m), "
                    + "process (e.g. process:pid=1234), trace (e.g. trace:file=redis.cpt)");
        };
    }

    public static MemorySource open(String spec) {
        return open(parse(spec));
    }

    /** Kinds whose one essential parameter may be given bare: {@code process:1234}, {@code trace:redis.cpt}. */
    private static final Map<String, String> BARE_PARAMETER = Map.of("process", "pid", "trace", "file");

    /** Parses a spec, also in the short form {@code kind:value} for the kinds in {@link #BARE_PARAMETER}. */
    public static SourceSpec parse(String text) {
        int colon = text == null ? -1 : text.indexOf(':');
        if (colon > 0) {
            String key = BARE_PARAMETER.get(text.substring(0, colon));
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
        return switch (spec.kind()) {
            case "sim" -> SimSource.restore(spec, memory, deviceState);
            case "kvm" -> KvmSource.restore(spec, memory, deviceState);
            default -> throw new IllegalArgumentException("a " + spec.kind() + " source cannot be restored from a "
                    + "checkpoint; restorable kinds: sim, kvm");
        };
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
}
