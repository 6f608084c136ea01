package io.cpstream.agent;

import java.lang.foreign.MemorySegment;

/**
 * A checkpoint taken at a stun, waiting to be streamed: the plan, the copied pages (in ascending page
 * order, one page each), and the device state.
 *
 * @param staging        {@code plan.pages().cardinality()} pages, copied while the guest was stunned
 * @param stunUnixMicros wall clock at the stun, for the collector's lag
 * @param stunNanos      monotonic clock at the stun, for the agent's lag
 * @param pauseNanos     how long the guest was stopped
 * @param imageSha256    SHA-256 of guest memory at the stun, in verify mode; otherwise null
 */
record CapturedCheckpoint(CheckpointPlan plan, StagingPool.Lease staging, int pageCount, byte[] deviceState,
                          long stunUnixMicros, long stunNanos, long pauseNanos, byte[] imageSha256) {

    MemorySegment page(int ordinal, int pageSize) {
        return staging.segment().asSlice((long) ordinal * pageSize, pageSize);
    }
}
