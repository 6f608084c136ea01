package io.cpstream.tracker.trace;

/**
 * Constants of the trace file format, version 1 (described in {@code dirty-tracker/TRACE-FORMAT.md}):
 * an uncompressed header, then one LZ4 frame holding epoch records and an end record. Numbers are
 * big-endian.
 */
final class TraceFormat {

    static final byte[] MAGIC = {'C', 'P', 'S', 'T', 'R', 'A', 'C', 'E'};
    static final int VERSION = 1;
    static final byte EPOCH_TAG = 'E';
    static final byte END_TAG = 'Z';
    static final byte PAGE_ZERO = 0;
    static final byte PAGE_DATA = 1;
    static final int DIGEST_BYTES = 32;

    /** Bounds a reader enforces, so a corrupt or hostile file cannot make it allocate without limit. */
    static final int MAX_PAGE_SIZE = 1 << 21;
    static final int MAX_METADATA_ENTRIES = 256;
    /** What a source may produce at all, so that a recorded epoch can be replicated. */
    static final int MAX_DEVICE_STATE_BYTES = io.cpstream.tracker.MemorySource.MAX_DEVICE_STATE_BYTES;

    private TraceFormat() {
    }
}
