package io.cpstream.encoder.compare;

import io.cpstream.encoder.PageEncoding;

import java.util.Map;

/**
 * What one codec cost over a sequence of checkpoints. {@code payloadBytes} counts the records' payloads only;
 * {@code wireBytes} is what the scheme's {@link WireFraming} says went on the wire, framing included (-1 when the
 * comparison had no framing for it). Throughputs are dirty-page bytes per second of sender (encode) or receiver
 * (decode, verify, apply) time, in 10^6 bytes. Everything but the full-sync figures covers the incremental
 * checkpoints only: the initial full sync is the same guest for every codec and would drown the steady state that
 * the comparison is about.
 */
public record CodecReport(String name, long checkpoints, long dirtyPages, long payloadBytes, long wireBytes,
        double encodeMBps, double decodeMBps, Map<PageEncoding, Long> records, long fullSyncPayloadBytes,
        long fullSyncWireBytes) {

    public double bytesPerDirtyPage() {
        return dirtyPages == 0 ? 0 : (double) (wireBytes >= 0 ? wireBytes : payloadBytes) / dirtyPages;
    }

    @Override
    public String toString() {
        return String.format("%-9s checkpoints=%d dirty_pages=%d payload_bytes=%d wire_bytes=%d "
                + "bytes_per_dirty_page=%.1f encode_mb_per_s=%.0f decode_mb_per_s=%.0f records=%s", name, checkpoints,
                dirtyPages, payloadBytes, wireBytes, bytesPerDirtyPage(), encodeMBps, decodeMBps, records);
    }
}
