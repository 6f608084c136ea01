package io.cpstream.tracker;

import io.cpstream.tracker.kvm.KvmSource;
import io.cpstream.tracker.process.ProcessSource;
import io.cpstream.tracker.sim.SimSource;
import io.cpstream.tracker.trace.TraceSource;
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
}
