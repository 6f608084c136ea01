package io.cpstream.harness.bench;

import io.cpstream.agent.AgentConfig;
import io.cpstream.encoder.compare.CodecComparison;
import io.cpstream.encoder.compare.CodecReport;
import io.cpstream.encoder.compare.CpstreamCodec;
import io.cpstream.encoder.compare.Lz4Codec;
import io.cpstream.encoder.compare.RawCodec;
import io.cpstream.encoder.compare.XbzrleCodec;
import io.cpstream.harness.SourceCheckpoints;
import io.cpstream.tracker.MemorySource;
import io.cpstream.tracker.MemorySources;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code bench --compare-encoders}: checkpoints captured from a fresh guest of the bench's source, one epoch of guest
 * activity each ({@link SourceCheckpoints}), and raw, lz4, xbzrle and cpstream run over exactly that sequence,
 * starting with the full sync (reported apart). cpstream is the production encoder and decoder (diff-encoder's
 * {@code StreamEncoder} and {@code StreamDecoder}, through {@link CpstreamCodec}); wire bytes are the agent's
 * messages as it serializes them ({@link AgentWireFraming}) for raw, lz4 and cpstream, and QEMU's RAM framing for
 * xbzrle; {@code floor_bytes} is what no encoding of random new bytes goes below ({@code CodecComparison#floorBytes}).
 */
public final class EncoderComparison {

    private EncoderComparison() {
    }

    /**
     * {@code settings.seconds()} of checkpoints at {@code config}'s epoch; the XBZRLE cache and cpstream's delta
     * cache are both {@code config}'s delta cache. Each codec's figures under {@code encoders}, and how cpstream
     * compares with xbzrle, lz4 and the bytes that changed.
     */
    public static Map<String, Object> run(BenchSettings settings, AgentConfig config) throws Exception {
        long epochMillis = config.epochInterval().toMillis();
        long cacheBytes = config.deltaCacheBytes();
        int checkpoints = (int) Math.max(1, settings.seconds() * 1000L / epochMillis);
        try (MemorySource guest = MemorySources.open(settings.source());
             SourceCheckpoints capture = new SourceCheckpoints(guest, epochMillis);
             CodecComparison comparison = new CodecComparison(guest.pageSize(), guest.pageCount(), List.of(
                     new RawCodec(guest.pageSize()), new Lz4Codec(guest.pageSize()),
                     new XbzrleCodec(guest.pageSize(), cacheBytes),
                     new CpstreamCodec(guest.pageSize(), guest.pageCount(), cacheBytes)),
                     // raw, lz4 and cpstream are the agent's three modes (full, lz4, cpstream): its messages;
                     // xbzrle frames itself as QEMU does.
                     codec -> codec instanceof XbzrleCodec ? null : new AgentWireFraming(guest.pageSize()))) {
            settings.out().printf("cpstream bench: comparing encoders over a full sync and %d checkpoints of %s%n",
                    checkpoints, settings.source());
            // A replayed trace ends when its recording does, whatever the window says.
            for (int i = 0; i <= checkpoints && !guest.finished(); i++) {
                comparison.run(capture.next());
            }
            Map<String, Object> encoders = new LinkedHashMap<>();
            long dirtyPages = 0;
            long captured = 0;
            for (CodecReport report : comparison.reports()) {
                Map<String, Object> figures = new LinkedHashMap<>();
                figures.put("payload_bytes", report.payloadBytes());
                figures.put("wire_bytes", report.wireBytes());
                figures.put("wire_bytes_per_dirty_page", Figures.round(report.bytesPerDirtyPage()));
                figures.put("encode_mb_per_s", Figures.round(report.encodeMBps()));
                figures.put("decode_mb_per_s", Figures.round(report.decodeMBps()));
                figures.put("full_sync_payload_bytes", report.fullSyncPayloadBytes());
                figures.put("full_sync_wire_bytes", report.fullSyncWireBytes());
                Map<String, Long> records = new LinkedHashMap<>();
                report.records().forEach((encoding, count) -> records.put(encoding.name().toLowerCase(Locale.ROOT),
                        count));
                figures.put("records", records);
                encoders.put(report.name(), figures);
                dirtyPages = report.dirtyPages();
                captured = report.checkpoints();
                if (!settings.quiet()) {
                    settings.out().println(report);
                }
            }
            Map<String, Object> result = new LinkedHashMap<>();
            // What was captured: a trace may end before the window does.
            result.put("encoders_checkpoints", captured);
            result.put("encoders_dirty_pages", dirtyPages);
            result.put("encoders_changed_bytes", comparison.changedBytes());
            result.put("encoders_raw_bytes", dirtyPages * guest.pageSize());
            result.put("floor_bytes", comparison.floorBytes());
            result.put("encoders", encoders);
            result.put("cpstream_vs_xbzrle_wire_bytes", Figures.ratio(wire(encoders, "cpstream"), wire(encoders, "xbzrle")));
            result.put("cpstream_vs_lz4_wire_bytes", Figures.ratio(wire(encoders, "cpstream"), wire(encoders, "lz4")));
            result.put("cpstream_vs_floor_bytes", Figures.ratio(wire(encoders, "cpstream"), comparison.floorBytes()));
            result.put("floor_vs_xbzrle_wire_bytes", Figures.ratio(comparison.floorBytes(), wire(encoders, "xbzrle")));
            result.put("cpstream_vs_xbzrle_payload_bytes", Figures.ratio(payload(encoders, "cpstream"),
                    payload(encoders, "xbzrle")));
            return result;
        }
    }

    private static Object payload(Map<String, Object> encoders, String name) {
        return ((Map<?, ?>) encoders.get(name)).get("payload_bytes");
    }

    private static Object wire(Map<String, Object> encoders, String name) {
        return ((Map<?, ?>) encoders.get(name)).get("wire_bytes");
    }
}
