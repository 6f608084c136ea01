package io.cpstream.harness.bench;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Busy processes on every core, as guests keeping a hypervisor host's CPUs busy would: one shell loop per core, each a
 * process of its own at the default priority (like a vCPU thread of another VM), so the benchmark's agent competes
 * for the CPU the way it would in production. {@link #measure} runs the pipeline under them.
 */
final class CpuHog implements AutoCloseable {

    private final List<Process> hogs = new ArrayList<>();

    private CpuHog(int processes) throws IOException {
        try {
            for (int i = 0; i < processes; i++) {
                hogs.add(new ProcessBuilder("sh", "-c", "while :; do :; done")
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectError(ProcessBuilder.Redirect.DISCARD).start());
            }
        } catch (IOException e) {
            close();
            throw e;
        }
    }

    /**
     * The pipeline's figures with one busy process per core running throughout (warm-up included), and how they
     * compare with {@code quiet}, the same pipeline measured without them in this run.
     */
    static Map<String, Object> measure(BenchSettings settings, io.cpstream.agent.AgentConfig config,
                                       Map<String, Object> quiet) throws Exception {
        int cores = Runtime.getRuntime().availableProcessors();
        Map<String, Object> loaded;
        try (CpuHog hog = new CpuHog(cores)) {
            settings.out().printf("cpstream bench: again with %d busy processes (one per core)%n", cores);
            loaded = Pipeline.measure(settings, config);
        }
        loaded.put("hog_processes", cores);
        loaded.put("checkpoints_over_quiet", Figures.ratio(loaded.get("checkpoints_per_s"), quiet.get("checkpoints_per_s")));
        loaded.put("lag_p99_over_epoch", Figures.lagP99OverEpoch(loaded));
        return loaded;
    }

    @Override
    public void close() {
        for (Process hog : hogs) {
            hog.destroyForcibly();
        }
        for (Process hog : hogs) {
            try {
                hog.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
