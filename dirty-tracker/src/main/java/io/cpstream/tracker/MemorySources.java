package io.cpstream.tracker;

import io.cpstream.tracker.kvm.KvmSource;
import io.cpstream.tracker.sim.SimSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

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
            default -> throw new IllegalArgumentException("unknown source kind '" + spec.kind()
                    + "'; known: sim (e.g. " + DEFAULT_SPEC + "), kvm (e.g. kvm:guest=counter,mem=64m)");
        };
    }

    public static MemorySource open(String spec) {
        return open(SourceSpec.parse(spec));
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
