package io.cpstream.tracker;

import io.cpstream.tracker.kvm.KvmSource;
import io.cpstream.tracker.sim.SimSource;

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
}
