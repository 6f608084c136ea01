package io.cpstream.collector;

/** What a standby has received and committed since this collector started, for operators (VmStatus). */
final class IntakeCounters {

    private boolean committedOnThisStream;
    private long epochsCommitted;
    private long pagesReceived;
    private long wireBytesReceived;
    private long lastCommitUnixMicros;
    private long lastStunMicros;

    void newStream() {
        committedOnThisStream = false;
    }

    void received(long pages) {
        pagesReceived += pages;
    }

    /** A Begin, PageBatch or Commit of {@code bytes} on the wire (serialized, gRPC prefix included) arrived. */
    void wireBytesReceived(long bytes) {
        wireBytesReceived += bytes;
    }

    void committed(long unixMicros, long stunMicros) {
        epochsCommitted++;
        committedOnThisStream = true;
        lastCommitUnixMicros = unixMicros;
        lastStunMicros = stunMicros;
    }

    /** Whether an epoch committed since the current stream attached (replicating, as opposed to syncing). */
    boolean committedOnThisStream() {
        return committedOnThisStream;
    }

    long epochsCommitted() {
        return epochsCommitted;
    }

    long pagesReceived() {
        return pagesReceived;
    }

    long wireBytesReceived() {
        return wireBytesReceived;
    }

    long lastCommitUnixMicros() {
        return lastCommitUnixMicros;
    }

    /** How long the primary was stunned for the newest epoch committed here; 0 if unknown. */
    long lastStunMicros() {
        return lastStunMicros;
    }
}
