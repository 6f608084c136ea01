package io.cpstream.agent;

import com.google.protobuf.ByteString;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.encoder.PageBatchCheck;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CheckpointBegin;
import io.cpstream.proto.CheckpointCommit;
import io.cpstream.proto.Limit;
import io.cpstream.proto.PageBatch;

/**
 * The replication messages that carry a checkpoint's pages, built one way for everyone: the agent's
 * {@link CheckpointSender} sends them, and {@code bench --compare-encoders} measures their serialized size
 * ({@link #wireBytes}), so the bytes the comparison reports are the bytes the agent puts on the wire.
 *
 * <p>Pages go into {@link PageBatch}es, in columns (protocol 5: see {@code replication.proto}; a page costs 1 byte of
 * encoding, 1-3 of index gap, 1-2 of length for LZ4 and the deltas, 1-2 of base lag for the deltas, besides its
 * payload; the batch carries one {@link PageBatchCheck} of its pages' CRC-32Cs, 9 bytes), at most {@link Limit#MAX_PAGE_BATCH_PAYLOAD_BYTES} of page
 * data and {@link Limit#MAX_PAGES_PER_BATCH} records each, pages in ascending order:
 * <pre>
 * for each page:  if (!batches.fits(record)) send(batches.take());  batches.add(index, record);
 * at the end:     if (!batches.isEmpty()) send(batches.take());
 * </pre>
 * A message {@link #take()} returns refers to a payload array this object reuses: it is valid until the next
 * {@link #add} (gRPC serializes a message inside {@code onNext}, and the agent's channel has retries off, so nothing
 * keeps it to serialize again). Not thread-safe.
 */
public final class CheckpointMessages {

    /** gRPC's length-prefixed message framing: 1 compressed-flag byte and a 4-byte length before every message. */
    public static final int GRPC_MESSAGE_PREFIX_BYTES = 5;

    /** Page payload per batch message; keeps any one message from monopolising the stream. */
    public static final int BATCH_PAYLOAD_BYTES = Limit.MAX_PAGE_BATCH_PAYLOAD_BYTES_VALUE;

    private final BatchPayloads payloads;
    private final byte[] encodings = new byte[Limit.MAX_PAGES_PER_BATCH_VALUE];
    /** The open batch's pages' CRC-32Cs, folded: what the collector checks the pages it rebuilds against. */
    private final PageBatchCheck check = new PageBatchCheck();
    private PageBatch.Builder batch;
    private int records;
    private long lastIndex;
    private long epoch;
    private long batchBytes;
    private boolean taken;

    public CheckpointMessages(int pageSize) {
        // A batch is cut before it would pass the limit, but its first payload may be a whole page (or a
        // little more, for an encoding that did not pay).
        this.payloads = new BatchPayloads(BATCH_PAYLOAD_BYTES + 2 * pageSize);
    }

    /** What goes on the wire for {@code message}: its serialized size plus gRPC's per-message prefix. */
    public static long wireBytes(AgentMessage message) {
        return message.getSerializedSize() + GRPC_MESSAGE_PREFIX_BYTES;
    }

    /** The Begin of a checkpoint; starts its page batches afresh. */
    public AgentMessage begin(long epoch, long baseEpoch, boolean full, long stunUnixMicros, long stunMicros,
            long pageCount) {
        this.epoch = epoch;
        batch = null;
        records = 0;
        batchBytes = 0;
        payloads.clear(); // a send that failed midway may have left a batch behind
        taken = false;
        return AgentMessage.newBuilder().setBegin(CheckpointBegin.newBuilder()
                .setEpoch(epoch)
                .setBaseEpoch(baseEpoch)
                .setFull(full)
                .setStunUnixMicros(stunUnixMicros)
                .setStunMicros(stunMicros)
                .setPageCount(pageCount)).build();
    }

    /**
     * The Commit of a checkpoint.
     *
     * @param imageSha256 the primary's image digest at the stun (verify mode), or null
     */
    public static AgentMessage commit(long epoch, long pageCount, byte[] deviceState, long outputStart,
            long outputEnd, long releasedOutputEnd, byte[] imageSha256) {
        CheckpointCommit.Builder commit = CheckpointCommit.newBuilder()
                .setEpoch(epoch)
                .setPageCount(pageCount)
                .setDeviceStateBytes(deviceState.length)
                .setDeviceStateSha256(ByteString.copyFrom(ImageDigest.sha256(deviceState)))
                .setOutputStart(outputStart)
                .setOutputEnd(outputEnd)
                .setReleasedOutputEnd(releasedOutputEnd);
        if (imageSha256 != null) {
            commit.setExpectedImageSha256(ByteString.copyFrom(imageSha256));
        }
        return AgentMessage.newBuilder().setCommit(commit).build();
    }

    /** Whether {@code record} may join the open batch (always, when it is empty). */
    public boolean fits(EncodedPage record) {
        return records == 0 || (batchBytes + record.payloadBytes() <= BATCH_PAYLOAD_BYTES
                && records < Limit.MAX_PAGES_PER_BATCH_VALUE);
    }

    /** Adds page {@code index}'s record to the open batch; its payload is copied (it may be scratch). */
    public void add(long index, EncodedPage record) {
        if (taken) {
            payloads.clear(); // the batch taken last was sent: its payload bytes are on the transport
            taken = false;
        }
        if (batch == null) {
            batch = PageBatch.newBuilder().setEpoch(epoch);
            records = 0;
            check.reset();
        } else if (records > 0 && index <= lastIndex) {
            throw new IllegalArgumentException("page " + index + " after page " + lastIndex + ": pages go in ascending order");
        }
        if (records == Limit.MAX_PAGES_PER_BATCH_VALUE) {
            throw new IllegalStateException("the batch is full: take() it first");
        }
        batch.addIndexGaps(records == 0 ? index : index - lastIndex - 1);
        lastIndex = index;
        encodings[records++] = (byte) record.encoding().wireNumber();
        check.add(record.crc32c());
        switch (record.encoding()) {
            case ZERO -> { }
            case FULL -> payloads.append(record.payload());
            case LZ4 -> {
                batch.addLengths(record.payloadBytes());
                payloads.append(record.payload());
            }
            case DELTA, DELTA_LZ4 -> {
                if (record.baseVersion() <= 0 || record.baseVersion() >= epoch) {
                    throw new IllegalArgumentException("a delta of epoch " + epoch + " against version "
                            + record.baseVersion());
                }
                batch.addLengths(record.payloadBytes());
                batch.addBaseLags(epoch - record.baseVersion());
                payloads.append(record.payload());
            }
            case DUPLICATE -> batch.addSourceIndexes(record.sourceIndex());
        }
        batchBytes += record.payloadBytes();
    }

    public boolean isEmpty() {
        return batch == null || records == 0;
    }

    /** The open batch as a message (valid until the next {@link #add}); a new batch opens with the next page. */
    public AgentMessage take() {
        AgentMessage message = AgentMessage.newBuilder().setPages(batch
                .setEncodings(ByteString.copyFrom(encodings, 0, records))
                .setPagesCheck(check.value())
                .setData(payloads.appended())).build();
        batch = null;
        records = 0;
        batchBytes = 0;
        taken = true;
        return message;
    }
}
