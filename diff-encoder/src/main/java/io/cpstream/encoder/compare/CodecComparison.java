package io.cpstream.encoder.compare;

import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.encoder.ReceiverPages;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Runs several {@link StreamCodec}s side by side over exactly the same checkpoints and reports wire
 * bytes and throughput for each. Every codec gets its own receiver image, starting equal to the
 * sender's; every decoded page is checked byte for byte against what was sent, so a codec cannot
 * win by being wrong.
 *
 * <p>Per checkpoint and codec: encode every dirty page, copying payloads into a wire buffer (timed as
 * encode); then decode and verify them against the receiver's image of the previous checkpoint, and apply
 * them all at commit, as the collector does (timed as decode); then compare the image. Each lane's
 * {@link WireFraming} counts its wire bytes.
 *
 * <p>{@link #floorBytes()}: for every dirty page of the incremental checkpoints, the bytes that differ from the
 * receiver's copy (none for a page that became all zero: that is known content), plus minimal framing (which page:
 * the ULEB128 of its distance from the previous dirty page; how much: the ULEB128 of that count). Where the new
 * bytes are random, as the sim's writes are, no encoding goes below it.
 * Pure: no I/O; the CLI prints the reports.
 */
public final class CodecComparison implements AutoCloseable {

    private final int pageSize;
    private final Arena arena = Arena.ofShared();
    private final List<Lane> lanes = new ArrayList<>();
    private long changedBytes;
    private long floorBytes;
    private Arena stagingArena;
    private MemorySegment staging;

    /**
     * @param initialImage what sender and receivers hold before the first checkpoint (a full sync)
     */
    public CodecComparison(int pageSize, MemorySegment initialImage, List<StreamCodec> codecs) {
        this(pageSize, initialImage.byteSize() / pageSize, initialImage, codecs);
        if (initialImage.byteSize() % pageSize != 0) {
            throw new IllegalArgumentException("image is not a whole number of pages");
        }
    }

    /** Receivers starting from nothing (all zero pages), for sequences that begin with a full sync. */
    public CodecComparison(int pageSize, long pageCount, List<StreamCodec> codecs) {
        this(pageSize, pageCount, null, codecs, codec -> null);
    }

    /**
     * Receivers starting from nothing; {@code framing} gives a codec's wire framing (null: the codec's own
     * {@link StreamCodec#framing()}, if any).
     */
    public CodecComparison(int pageSize, long pageCount, List<StreamCodec> codecs,
            Function<StreamCodec, WireFraming> framing) {
        this(pageSize, pageCount, null, codecs, framing);
    }

    private CodecComparison(int pageSize, long pageCount, MemorySegment initialImage, List<StreamCodec> codecs) {
        this(pageSize, pageCount, initialImage, codecs, codec -> null);
    }

    private CodecComparison(int pageSize, long pageCount, MemorySegment initialImage, List<StreamCodec> codecs,
            Function<StreamCodec, WireFraming> framing) {
        this.pageSize = pageSize;
        for (StreamCodec codec : codecs) {
            MemorySegment image = arena.allocate(pageCount * pageSize, pageSize);
            if (initialImage != null) {
                image.copyFrom(initialImage.asSlice(0, pageCount * pageSize));
            }
            WireFraming wire = framing.apply(codec);
            lanes.add(new Lane(codec, image, new long[(int) pageCount], wire != null ? wire : codec.framing()));
        }
    }

    /** Feeds every checkpoint to every codec. */
    public void run(Iterator<Checkpoint> checkpoints) throws CorruptPageException {
        while (checkpoints.hasNext()) {
            run(checkpoints.next());
        }
    }

    /** Feeds one checkpoint to every codec. */
    public void run(Checkpoint checkpoint) throws CorruptPageException {
        if (!checkpoint.fullSync() && !lanes.isEmpty()) {
            Lane first = lanes.getFirst();
            long previous = -1;
            for (int i = 0; i < checkpoint.pages().length; i++) {
                long page = checkpoint.pages()[i];
                MemorySegment content = checkpoint.content(i);
                long changed = changedBytes(first.page(page), content);
                changedBytes += changed;
                long conveyed = io.cpstream.encoder.ZeroPages.isZero(content) ? 0 : changed;
                floorBytes += conveyed + ulebBytes(Math.abs(page - previous)) + ulebBytes(conveyed);
                previous = page;
            }
        }
        for (Lane lane : lanes) {
            lane.run(checkpoint);
        }
    }

    /** Room for {@code bytes} of decoded pages between decode and commit, shared by the lanes (they run in turn). */
    private MemorySegment staging(long bytes) {
        if (staging == null || staging.byteSize() < bytes) {
            if (stagingArena != null) {
                stagingArena.close();
            }
            stagingArena = Arena.ofConfined();
            staging = stagingArena.allocate(Math.max(bytes, pageSize), pageSize);
        }
        return staging;
    }

    /**
     * Bytes of the incremental checkpoints' dirty pages that differ from the version before: what any scheme that
     * sends changes must convey. When the new bytes are random (incompressible), no encoding goes below it.
     */
    public long changedBytes() {
        return changedBytes;
    }

    /**
     * The least any encoding could put on the wire for the incremental checkpoints when new bytes are random: see
     * the class comment.
     */
    public long floorBytes() {
        return floorBytes;
    }

    static int ulebBytes(long value) {
        int bytes = 1;
        while ((value >>>= 7) != 0) {
            bytes++;
        }
        return bytes;
    }

    private static long changedBytes(MemorySegment before, MemorySegment after) {
        long changed = 0;
        for (long offset = 0; offset < before.byteSize(); offset += 8) {
            long diff = before.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, offset)
                    ^ after.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, offset);
            // Count the non-zero bytes of diff: set bit 7 of each non-zero byte, then count those bits.
            long nonZero = ((diff & 0x7F7F7F7F7F7F7F7FL) + 0x7F7F7F7F7F7F7F7FL | diff) & 0x8080808080808080L;
            changed += Long.bitCount(nonZero);
        }
        return changed;
    }

    public List<CodecReport> reports() {
        return lanes.stream().map(Lane::report).toList();
    }

    @Override
    public void close() {
        for (Lane lane : lanes) {
            lane.codec.close();
        }
        if (stagingArena != null) {
            stagingArena.close();
        }
        arena.close();
    }

    /** One codec with its receiver image and counters. */
    private final class Lane implements ReceiverPages {
        final StreamCodec codec;
        final MemorySegment image;
        final long[] versions;
        final WireFraming framing;
        final Map<PageEncoding, Long> records = new EnumMap<>(PageEncoding.class);
        byte[] wire = new byte[0];
        PageEncoding[] encodings = new PageEncoding[0];
        int[] crcs = new int[0];
        long[] baseVersions = new long[0];
        long[] sourceIndexes = new long[0];
        int[] payloadEnds = new int[0];
        long checkpoints;
        long dirtyPages;
        long payloadBytes;
        long wireBytes;
        long fullSyncPayloadBytes;
        long fullSyncWireBytes;
        long encodeNanos;
        long decodeNanos;

        Lane(StreamCodec codec, MemorySegment image, long[] versions, WireFraming framing) {
            this.codec = codec;
            this.framing = framing;
            this.image = image;
            this.versions = versions;
        }

        @Override
        public MemorySegment page(long index) {
            return index >= 0 && index < versions.length ? image.asSlice(index * pageSize, pageSize) : null;
        }

        @Override
        public long version(long index) {
            return versions[(int) index];
        }

        void run(Checkpoint checkpoint) throws CorruptPageException {
            int count = checkpoint.pages().length;
            ensureCapacity(count);
            long epoch = checkpoint.epoch();

            long start = System.nanoTime();
            codec.beginCheckpoint(checkpoint);
            if (framing != null) {
                framing.beginCheckpoint(checkpoint);
            }
            int end = 0;
            for (int i = 0; i < count; i++) {
                EncodedPage record = codec.encode(epoch, checkpoint.pages()[i], checkpoint.content(i));
                if (framing != null) {
                    framing.page(checkpoint.pages()[i], record);
                }
                ByteBuffer payload = record.payload();
                int length = payload.remaining();
                payload.get(payload.position(), wire, end, length);
                end += length;
                payloadEnds[i] = end;
                encodings[i] = record.encoding();
                crcs[i] = record.crc32c();
                baseVersions[i] = record.baseVersion();
                sourceIndexes[i] = record.sourceIndex();
            }
            codec.endCheckpoint(epoch);
            long encoded = System.nanoTime() - start;
            long framed = framing != null ? framing.endCheckpoint() : -1;

            // Like the collector: every record decodes against the image of the previous checkpoint into
            // staging, and the checkpoint applies whole at commit.
            start = System.nanoTime();
            MemorySegment staged = staging((long) count * pageSize);
            int from = 0;
            for (int i = 0; i < count; i++) {
                long page = checkpoint.pages()[i];
                EncodedPage record = new EncodedPage(encodings[i], ByteBuffer.wrap(wire, from, payloadEnds[i] - from),
                        crcs[i], baseVersions[i], sourceIndexes[i]);
                codec.decode(epoch, page, record, this, staged.asSlice((long) i * pageSize, pageSize));
                from = payloadEnds[i];
            }
            codec.decoded(epoch);
            for (int i = 0; i < count; i++) {
                long page = checkpoint.pages()[i];
                MemorySegment held = page(page);
                MemorySegment decoded = staged.asSlice((long) i * pageSize, pageSize);
                codec.applied(page, held, versions[(int) page], decoded);
                held.copyFrom(decoded);
                versions[(int) page] = epoch;
            }
            codec.committed(epoch);
            long decoded = System.nanoTime() - start;

            for (int i = 0; i < count; i++) {
                long page = checkpoint.pages()[i];
                if (page(page).mismatch(checkpoint.content(i)) != -1) {
                    throw new IllegalStateException(codec.name() + " rebuilt page " + page + " of checkpoint " + epoch
                            + " wrong");
                }
            }
            if (checkpoint.fullSync()) {
                fullSyncPayloadBytes += end;
                fullSyncWireBytes += framed;
                return;
            }
            for (int i = 0; i < count; i++) {
                records.merge(encodings[i], 1L, Long::sum);
            }
            encodeNanos += encoded;
            decodeNanos += decoded;
            checkpoints++;
            dirtyPages += count;
            payloadBytes += end;
            wireBytes += framed;
        }

        void ensureCapacity(int count) {
            if (encodings.length < count) {
                wire = new byte[count * pageSize];
                encodings = new PageEncoding[count];
                crcs = new int[count];
                baseVersions = new long[count];
                sourceIndexes = new long[count];
                payloadEnds = new int[count];
            }
        }

        CodecReport report() {
            double bytes = (double) dirtyPages * pageSize;
            return new CodecReport(codec.name(), checkpoints, dirtyPages, payloadBytes, framing == null ? -1 : wireBytes,
                    encodeNanos == 0 ? 0 : bytes * 1e3 / encodeNanos, decodeNanos == 0 ? 0 : bytes * 1e3 / decodeNanos,
                    new EnumMap<>(records), fullSyncPayloadBytes, framing == null ? -1 : fullSyncWireBytes);
        }
    }
}
