package io.cpstream.harness.bench;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.StunConfig;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code bench --compare-stun}: one workload copying every dirty page inside the stun ({@code copy_all}) and with
 * the history split ({@code history}), {@link Mirrored}, the collector verifying its image against the primary's
 * digest at every epoch of both.
 */
public final class StunComparison {

    /**
     * What it runs unless told otherwise: a dirty set of mostly stable pages (a hot set of 64 pages takes 10% of
     * the writes; the rest append 1 KiB chunks to a log sweeping 16 MiB, so a page is written in one burst and then
     * not for about 7 epochs), about 600 dirty pages per 50 ms epoch: what this pipeline sustains with the
     * collector verifying a digest at every epoch.
     */
    public static final String SOURCE = "sim:mem=16m,workload=stable,hot-pages=64,hot-share=10,rate=70000,outputs=100";
    /** The epoch it runs unless told otherwise, in milliseconds. */
    public static final long EPOCH_MS = 50;

    private StunComparison() {
    }

    /** {@code copy_all} and {@code history}, the ratio of their pause p99s, and whether every digest was verified. */
    public static Map<String, Object> run(BenchSettings settings, AgentConfig config) throws Exception {
        AgentConfig verified = config.withVerify(true);
        StunConfig stun = config.stun();
        List<Map<String, Object>> both = Mirrored.compare(settings,
                verified.withStun(stun.withSplit(StunConfig.Split.COPY_ALL)),
                verified.withStun(stun.withSplit(StunConfig.Split.HISTORY)), null);
        Map<String, Object> copyAll = both.get(0);
        Map<String, Object> history = both.get(1);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("copy_all", copyAll);
        result.put("history", history);
        result.put("pause_p99_ratio", Figures.ratio(history.get("pause_ms_p99"), copyAll.get("pause_ms_p99")));
        result.put("digests_verified_every_epoch", (boolean) copyAll.get("digests_verified_every_epoch")
                && (boolean) history.get("digests_verified_every_epoch"));
        return result;
    }
}
