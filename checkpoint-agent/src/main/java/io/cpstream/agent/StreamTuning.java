package io.cpstream.agent;

/**
 * The transport settings of the agent's replication stream, in one place so that the bench's bare-gRPC
 * baseline ({@code bench --link-baseline}) runs with exactly what the agent runs with: a baseline tuned
 * differently would measure gRPC, not the headroom the pipeline leaves on the table.
 */
public final class StreamTuning {

    /** Room for a few page batches in flight on the connection, so the link stays busy between acks. */
    public static final int FLOW_CONTROL_WINDOW = 8 << 20;

    /**
     * gRPC calls a stream ready while less than this is queued. The default (32 KiB) is smaller than one
     * page batch, which turns a stream of 1 MiB messages into stop-and-wait: one message queued, wait
     * for it to drain, queue the next. Two MiB keeps one batch queued behind the one being written.
     */
    public static final int ON_READY_THRESHOLD = 2 << 20;

    private StreamTuning() {
    }
}
