package io.cpstream.harness.bench;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.ProtectionMode;
import io.cpstream.agent.output.OutputReceiver;
import io.cpstream.harness.Directories;
import io.cpstream.harness.HarnessException;
import io.cpstream.harness.LocalReplication;
import io.cpstream.tracker.OutputTap;
import io.cpstream.tracker.kvm.KvLoad;
import io.cpstream.tracker.kvm.KvmSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;

/**
 * {@code bench --compare-protect}: one {@code emu} kv guest under the same request load, protected by checkpoints
 * (an output is released once its epoch's checkpoint commits) and by record/replay (once the inputs before it are
 * journaled by the collector), {@link Mirrored}. Each output's latency runs from the guest's {@code OUT} (the shim's
 * CLOCK_MONOTONIC stamp, {@link KvmSource#outputEmittedNanos}) to the moment the sink the agent releases to, a TCP
 * {@link OutputReceiver} on loopback, has it in its log; the clock is the host's one monotonic clock, which both
 * read. Quasi-lockstep (the collector's secondary must match each output first) runs as a third mode, against replay
 * in a mirrored window of its own. Reported per mode: latency p50/p99/max and checkpoints per second, and replay's p99
 * over checkpoint's, lockstep's over replay's; beside
 * them the {@link SinkFloor} measured in the same window (the sink's own write, which no protection can beat).
 */
public final class ProtectComparison {

    /**
     * Requests the load offers per second: a steady stream well inside what the kv guest serves on {@code emu}
     * (it answers a request in tens of microseconds), so latency is the protection's, not a queue's.
     */
    public static final int REQUESTS_PER_SECOND = 500;

    private ProtectComparison() {
    }

    /**
     * {@code checkpoint} and {@code replay}, and {@code replay_p99_over_checkpoint_p99}; then {@code lockstep},
     * mirrored against replay again in its own window, and {@code lockstep_p99_over_replay_p99} of that window.
     */
    public static Map<String, Object> run(BenchSettings settings, AgentConfig config) throws Exception {
        if (!settings.source().startsWith("emu:") || !settings.source().contains("guest=kv")) {
            throw new HarnessException("--compare-protect runs a kv guest on emu (record/replay needs the emulator), "
                    + "e.g. --source emu:guest=kv,mem=64m; not " + settings.source());
        }
        java.util.List<Map<String, Object>> both = Mirrored.compare(settings, config,
                () -> new Load(ProtectionMode.CHECKPOINT), config, () -> new Load(ProtectionMode.REPLAY), null);
        Map<String, Object> checkpoint = both.get(0);
        Map<String, Object> replay = both.get(1);
        java.util.List<Map<String, Object>> lockstepWindow = Mirrored.compare(settings, config,
                () -> new Load(ProtectionMode.REPLAY), config, () -> new Load(ProtectionMode.LOCKSTEP), replay);
        Map<String, Object> lockstep = lockstepWindow.get(1);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("requests_per_s", REQUESTS_PER_SECOND);
        result.put("checkpoint", checkpoint);
        result.put("replay", replay);
        result.put("replay_p99_over_checkpoint_p99", Figures.ratio(replay.get("output_latency_ms_p99"),
                checkpoint.get("output_latency_ms_p99")));
        result.put("lockstep", lockstep);
        result.put("lockstep_p99_over_replay_p99", Figures.ratio(lockstep.get("output_latency_ms_p99"),
                lockstepWindow.get(0).get("output_latency_ms_p99")));
        return result;
    }

    /**
     * One pipeline run's load and latency measurement: a sink on loopback TCP that timestamps what it accepts, and
     * a thread offering kv requests at a steady rate from the moment the agent starts.
     */
    private static final class Load implements Pipeline.Extra {

        private final ProtectionMode mode;
        private final Path dir;
        private final OutputReceiver sink;
        /** The same kind of sink written to directly, at the request rate: the floor under either mode's latency. */
        private final SinkFloor floor = new SinkFloor(1_000_000_000L / REQUESTS_PER_SECOND);
        /** Latencies of the outputs released in the window, in nanoseconds; guarded by this. */
        private final LatencySamples latencies = new LatencySamples();
        /** Outputs released in the window whose emission time the shim no longer knew: not measured, reported. */
        private long unknown;
        private long refused;
        private long offered;
        private volatile boolean measuring;
        private KvmSource kv;
        private KvLoad driver;

        Load(ProtectionMode mode) {
            this.mode = mode;
            try {
                this.dir = Files.createTempDirectory("cpstream-bench-sink-");
                this.sink = new OutputReceiver("127.0.0.1", 0, dir.resolve("released.log"));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot start the bench's output sink", e);
            }
            sink.onAccepted(this::released);
        }

        @Override
        public AgentConfig configure(AgentConfig config) {
            return config.withOutputSink("tcp://127.0.0.1:" + sink.port());
        }

        @Override
        public void prepare(LocalReplication run) {
            if (!(run.guest instanceof OutputTap tap) || !(tap.guest() instanceof KvmSource source)) {
                throw new HarnessException("--compare-protect needs an emu kv guest");
            }
            kv = source;
            switch (mode) {
                case REPLAY -> run.agent.protectByReplay();
                case LOCKSTEP -> run.agent.protectByLockstep(null);
                case CHECKPOINT -> { }
            }
            driver = new KvLoad(kv, REQUESTS_PER_SECOND, 0, this::offered).start();
        }

        /** Request i is offered i / rate seconds after the start (or later, if refused), so both modes see one schedule. */
        private void offered(long id, boolean queued) {
            synchronized (this) {
                if (measuring) {
                    offered++;
                    refused += queued ? 0 : 1;
                }
            }
        }

        private void released(String vm, long first, int records, long nanos) {
            if (!measuring) {
                return;
            }
            for (long index = first; index < first + records; index++) {
                OptionalLong emitted;
                try {
                    emitted = kv.outputEmittedNanos(index);
                } catch (IllegalStateException closed) {
                    return; // the primary stopped
                }
                synchronized (this) {
                    if (emitted.isEmpty()) {
                        unknown++;
                        continue;
                    }
                    latencies.add(nanos - emitted.getAsLong());
                }
            }
        }

        @Override
        public void window(boolean on) {
            measuring = on;
            floor.window(on);
        }

        @Override
        public synchronized void addFigures(Map<String, Object> result) {
            result.put("protect", mode.name().toLowerCase(java.util.Locale.ROOT));
            result.put("outputs_measured", latencies.count());
            result.put("outputs_without_emit_time", unknown);
            result.put("requests_offered", offered);
            result.put("requests_refused", refused);
            latencies.putMillis(result, "output_latency");
            floor.addFigures(result);
        }

        @Override
        public void close() throws Exception {
            measuring = false;
            if (driver != null) {
                driver.close();
            }
            try (floor) {
                sink.close();
            } finally {
                Directories.deleteTree(dir);
            }
        }
    }
}
