package io.cpstream.harness;

import io.cpstream.agent.ProtectionMode;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.SourceSpec;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a chaos trial protects, and how ({@code chaos --source ... --protect ...}): the guest whose released outputs the
 * finale judges (the counter guest, each output the successor of the one before, or the kv guest, each answer to the
 * request after the one before), and the protection the primary runs under. Under {@code replay} (and {@code lockstep},
 * which adds the collector's secondary and is judged the same way) the primary is an emu
 * kv guest with a client in the agent's process ({@code load=}), and it keeps a copy of its inputs from boot beside
 * the trial ({@code --record-inputs}): booted again and fed that copy to the last input the standby acknowledged, it
 * is the primary's memory there, which the promoted VM's must equal.
 */
public record ChaosProtection(ProtectionMode mode, String source) {

    /** Requests per second the kv guest's client sends when the source does not say ({@code load=}). */
    static final int DEFAULT_KV_LOAD = 200;

    /**
     * The trial's protection of {@code source}; under {@code replay}, the source is an emu kv guest, given a client if
     * it has none.
     *
     * @throws IllegalArgumentException saying what does not fit
     */
    public static ChaosProtection of(String source, ProtectionMode mode) {
        SourceSpec spec = MemorySources.parse(source);
        boolean kv = "kv".equals(spec.params().get("guest"));
        if (mode != ProtectionMode.CHECKPOINT) {
            if (!spec.kind().equals("emu") || !kv) {
                throw new IllegalArgumentException("chaos --protect " + mode.name().toLowerCase(java.util.Locale.ROOT)
                        + " needs an emu kv guest (e.g. --source "
                        + "emu:guest=kv,mem=16m): its inputs are what is recorded, and its answers what is checked; not "
                        + source);
            }
            if (!spec.params().containsKey("load")) {
                Map<String, String> params = new LinkedHashMap<>(spec.params());
                params.put("load", String.valueOf(DEFAULT_KV_LOAD));
                spec = new SourceSpec(spec.kind(), params);
            }
        } else if (kv) {
            throw new IllegalArgumentException("chaos runs the kv guest only under --protect replay or lockstep (its "
                    + "client and its check need the recorded inputs); use the counter guest for checkpoint protection");
        }
        return new ChaosProtection(mode, spec.toString());
    }

    /** Whether the primary logs its inputs (replay or lockstep): an emu kv guest, judged by replaying them. */
    boolean logsInputs() {
        return mode != ProtectionMode.CHECKPOINT;
    }

    /** The requests per second of the kv guest's client. */
    int kvLoad() {
        return Integer.parseInt(MemorySources.parse(source).params().getOrDefault("load", "0"));
    }

    /** Where the primary keeps the copy of its inputs, in the trial's directory {@code work}. */
    static Path inputCopy(Path work) {
        return work.resolve("primary-inputs.journal");
    }

    /** The agent daemon's flags for this protection. */
    List<String> agentFlags(Path work) {
        return logsInputs() ? List.of("--protect", mode.name().toLowerCase(java.util.Locale.ROOT), "--record-inputs",
                inputCopy(work).toString()) : List.of();
    }
}
