package io.cpstream.collector;

import com.google.protobuf.ByteString;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.encoder.SparseBits;
import io.cpstream.proto.CheckpointBegin;
import io.cpstream.proto.CheckpointCommit;
import io.cpstream.proto.DeviceState;
import io.cpstream.proto.Limit;
import io.cpstream.proto.OutputBatch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What has arrived of the checkpoint being staged: which pages, how many of those announced, and the device state
 * and output records, which may come in several messages each and are checked against the limits of the
 * protocol and against what the commit claims.
 */
final class OpenCheckpoint {

    final long epoch;
    final boolean full;
    final long declaredPages;
    final long stunUnixMicros;
    final long stunMicros;
    /** Pages staged so far: heap for the pages that arrived, not for the declared guest. */
    final SparseBits seen;
    long received;
    private byte[] deviceState = new byte[0];
    private int deviceStateBytes;
    private boolean deviceStateSeen;
    /** Copies: a record's bytes in its message are a view of an array lent only while that message is handled. */
    private final List<byte[]> outputs = new ArrayList<>();
    private long outputStart = -1;
    private long outputBytes;

    OpenCheckpoint(CheckpointBegin begin, long pageCount) {
        this.epoch = begin.getEpoch();
        this.full = begin.getFull();
        this.declaredPages = begin.getPageCount();
        this.stunUnixMicros = begin.getStunUnixMicros();
        this.stunMicros = begin.getStunMicros();
        this.seen = new SparseBits(pageCount);
    }

    /** Appends a chunk of the device state, which must continue the chunks before it. */
    void deviceState(DeviceState chunk) throws StandbyException {
        int size = chunk.getState().size();
        if (size > Limit.MAX_CHUNK_BYTES_VALUE) {
            throw StandbyException.invalid("a device state chunk of " + size + " bytes exceeds " + Limit.MAX_CHUNK_BYTES_VALUE);
        }
        if (chunk.getOffset() != deviceStateBytes) {
            throw StandbyException.invalid("device state chunk at offset " + Long.toUnsignedString(chunk.getOffset())
                    + " of epoch " + epoch + " after " + deviceStateBytes + " bytes");
        }
        if ((long) deviceStateBytes + size > Limit.MAX_DEVICE_STATE_BYTES_VALUE) {
            throw StandbyException.invalid("device state of epoch " + epoch + " exceeds "
                    + Limit.MAX_DEVICE_STATE_BYTES_VALUE + " bytes");
        }
        if (deviceStateBytes + size > deviceState.length) {
            deviceState = Arrays.copyOf(deviceState, Math.max(deviceStateBytes + size, deviceState.length * 2));
        }
        chunk.getState().copyTo(deviceState, deviceStateBytes);
        deviceStateBytes += size;
        deviceStateSeen = true;
    }

    /** Appends output records, which must continue the batches before them. */
    void outputs(OutputBatch batch) throws StandbyException {
        long bytes = 0;
        for (ByteString record : batch.getRecordsList()) {
            if (record.size() > Limit.MAX_OUTPUT_RECORD_BYTES_VALUE) {
                throw StandbyException.invalid("an output record of " + record.size() + " bytes exceeds "
                        + Limit.MAX_OUTPUT_RECORD_BYTES_VALUE);
            }
            bytes += record.size();
        }
        if (bytes > Limit.MAX_CHUNK_BYTES_VALUE) {
            throw StandbyException.invalid("an output batch of " + bytes + " bytes exceeds " + Limit.MAX_CHUNK_BYTES_VALUE);
        }
        if (outputStart >= 0 && batch.getStart() != outputStart + outputs.size()) {
            throw StandbyException.invalid("output batch of epoch " + epoch + " starts at "
                    + Long.toUnsignedString(batch.getStart()) + ", not at " + (outputStart + outputs.size()));
        }
        if (batch.getStart() < 0 || batch.getStart() > Long.MAX_VALUE - batch.getRecordsCount()) {
            throw StandbyException.invalid("output batch of epoch " + epoch + " starts at "
                    + Long.toUnsignedString(batch.getStart()));
        }
        if (outputBytes + bytes > Limit.MAX_HELD_OUTPUT_BYTES_VALUE) {
            throw StandbyException.invalid("epoch " + epoch + " carries more than " + Limit.MAX_HELD_OUTPUT_BYTES_VALUE
                    + " bytes of output");
        }
        if (outputStart < 0) {
            outputStart = batch.getStart();
        }
        for (ByteString record : batch.getRecordsList()) {
            outputs.add(record.toByteArray());
        }
        outputBytes += bytes;
    }

    /**
     * The device state, once the commit's length and digest vouch for it; null when the digest differs (corrupted
     * on the way: the checkpoint is resent, never applied).
     */
    byte[] verifiedDeviceState(CheckpointCommit commit) throws StandbyException {
        if (!deviceStateSeen || commit.getDeviceStateSha256().size() != 32) {
            throw StandbyException.invalid("commit of epoch " + epoch + " without "
                    + (deviceStateSeen ? "the device state's SHA-256" : "a device state"));
        }
        if (commit.getDeviceStateBytes() != deviceStateBytes) {
            throw StandbyException.invalid("commit of epoch " + epoch + " claims " + Long.toUnsignedString(
                    commit.getDeviceStateBytes()) + " bytes of device state; " + deviceStateBytes + " arrived");
        }
        byte[] state = Arrays.copyOf(deviceState, deviceStateBytes);
        return Arrays.equals(ImageDigest.sha256(state), commit.getDeviceStateSha256().toByteArray()) ? state : null;
    }

    /** The output records that arrived, which must be exactly {@code [output_start, output_end)} of the commit. */
    List<byte[]> outputRecords(CheckpointCommit commit) throws StandbyException {
        long start = outputStart < 0 ? commit.getOutputEnd() : outputStart;
        if (start != commit.getOutputStart() || Long.compareUnsigned(commit.getOutputEnd(), start) < 0
                || commit.getOutputEnd() - start != outputs.size()) {
            throw StandbyException.invalid("commit of epoch " + epoch + " names outputs ["
                    + Long.toUnsignedString(commit.getOutputStart()) + ", " + Long.toUnsignedString(commit.getOutputEnd())
                    + ") but records [" + start + ", " + (start + outputs.size()) + ") arrived");
        }
        return List.copyOf(outputs);
    }
}
