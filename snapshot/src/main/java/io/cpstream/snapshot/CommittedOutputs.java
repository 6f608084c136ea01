package io.cpstream.snapshot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The guest outputs a committed epoch holds that its primary may not have released yet: records
 * {@code [start, end)} of the VM's output stream. {@code end} is how many outputs the guest had
 * emitted before the stun of the committed epoch. A promoted standby hands these to the new primary,
 * which releases whichever of them the outside world has not seen, so failover loses no output.
 */
public record CommittedOutputs(long start, long end, List<byte[]> records) {

    public static final CommittedOutputs NONE = new CommittedOutputs(0, 0, List.of());
    /**
     * Output bytes a standby keeps at most (the replication protocol's MAX_HELD_OUTPUT_BYTES); an agent holds no
     * more, so one that releases nothing cannot grow it further.
     */
    public static final int MAX_BYTES = 4 << 20;
    /** The longest record (the protocol's MAX_OUTPUT_RECORD_BYTES; what a source may emit). */
    public static final int MAX_RECORD_BYTES = io.cpstream.tracker.MemorySource.MAX_OUTPUT_RECORD_BYTES;

    public CommittedOutputs {
        records = List.copyOf(records);
        if (start < 0 || end < start || end - start != records.size()) {
            throw new IllegalArgumentException("outputs [" + start + ", " + end + ") with " + records.size() + " records");
        }
    }

    /**
     * The outputs after committing a checkpoint that carries records {@code [batchStart, batchEnd)}
     * and whose agent has released every output below {@code releasedEnd}. A full checkpoint replaces
     * what is held (the guest may have been rebooted or come from another lineage); any other must
     * continue the stream and never go back, without a gap but for records the agent says it released.
     *
     * @throws IllegalArgumentException when the batch does not fit what is held: the checkpoint is refused
     */
    public CommittedOutputs advance(long batchStart, long batchEnd, List<byte[]> batch, long releasedEnd, boolean full) {
        if (batchStart < 0 || batchEnd < batchStart || batchEnd - batchStart != batch.size()) {
            throw new IllegalArgumentException("output records [" + batchStart + ", " + batchEnd + ") but "
                    + batch.size() + " records carried");
        }
        List<byte[]> kept = new ArrayList<>();
        long keptStart;
        if (full) {
            keptStart = batchStart;
            kept.addAll(batch);
        } else if (batchStart > end) {
            // Records in between may be missing only because the primary released them already (it ran alone,
            // without a standby): a promotion never has to release them again. Any other gap loses outputs.
            if (batchStart > releasedEnd) {
                throw new IllegalArgumentException("output records start at " + batchStart + " but the standby holds "
                        + "outputs up to " + end + " and the primary released only up to " + releasedEnd + ": a gap");
            }
            keptStart = batchStart;
            kept.addAll(batch);
        } else {
            if (batchEnd < end) {
                throw new IllegalArgumentException("output end " + batchEnd + " is behind the committed " + end);
            }
            keptStart = start;
            kept.addAll(records);
            kept.addAll(batch.subList((int) (end - batchStart), batch.size()));
        }
        long newEnd = keptStart + kept.size();
        long dropBelow = Math.max(keptStart, Math.min(releasedEnd, newEnd));
        List<byte[]> retained = new ArrayList<>(kept.subList((int) (dropBelow - keptStart), kept.size()));
        long bytes = 0;
        for (byte[] record : retained) {
            if (record.length > MAX_RECORD_BYTES) {
                throw new IllegalArgumentException("an output record of " + record.length + " bytes exceeds "
                        + MAX_RECORD_BYTES);
            }
            bytes += record.length;
        }
        if (bytes > MAX_BYTES) {
            throw new IllegalArgumentException(bytes + " bytes of unreleased output exceed the standby's " + MAX_BYTES);
        }
        return new CommittedOutputs(dropBelow, newEnd, retained);
    }

    /** Little-endian: u64 start, u64 end, then per record u32 length and its bytes. */
    public byte[] encode() {
        int size = 16;
        for (byte[] record : records) {
            size += 4 + record.length;
        }
        ByteBuffer out = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN).putLong(start).putLong(end);
        for (byte[] record : records) {
            out.putInt(record.length).put(record);
        }
        return out.array();
    }

    public static CommittedOutputs decode(byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long start = in.getLong();
        long end = in.getLong();
        List<byte[]> records = new ArrayList<>();
        while (in.hasRemaining()) {
            byte[] record = new byte[in.getInt()];
            in.get(record);
            records.add(record);
        }
        return new CommittedOutputs(start, end, records);
    }
}
