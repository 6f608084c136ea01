package io.cpstream.agent.output;

import java.io.IOException;
import java.util.List;

/**
 * Where a primary releases its guest's output: the outside world. Records are numbered by their
 * position in the VM's output stream since boot, and a sink accepts them only in order, so a record
 * released by an old primary and again by its promoted successor is refused the second time instead of
 * being seen twice. A sink also remembers the highest fencing epoch it has seen and refuses any
 * primary below it, so once a promoted primary has opened it the old one cannot release anything.
 */
public interface OutputSink extends AutoCloseable {

    /** Returned by {@link #open} when the sink has never received a record of this VM. */
    long NO_HISTORY = -1;

    /**
     * Announces the primary of {@code vm} at {@code fencingEpoch} and returns the index of the next
     * record the sink expects, or {@link #NO_HISTORY}.
     *
     * @throws FencedException when the sink has seen a higher fencing epoch of this VM
     */
    long open(String vm, long fencingEpoch) throws IOException;

    /**
     * Releases {@code records}, the first with index {@code first}. Returns once the sink holds them.
     *
     * @throws FencedException when a primary with a higher fencing epoch opened the sink meanwhile
     * @throws OutputGapException when {@code first} is not the index the sink expects next
     */
    void write(long first, List<byte[]> records) throws IOException;

    @Override
    void close() throws IOException;

    /** The sink answered to a primary of a higher fencing epoch: this one must stop releasing. */
    final class FencedException extends IOException {
        public FencedException(String message) {
            super(message);
        }
    }

    /**
     * The sink refuses this agent ({@code denied REASON}): its certificate does not name the VM, or is not an
     * agent's. Retrying cannot help; the agent stops with the reason.
     */
    final class DeniedException extends IOException {
        public DeniedException(String message) {
            super(message);
        }
    }

    /** The records do not continue the sink's stream: some would be repeated or missing. */
    final class OutputGapException extends IOException {
        private final long expected;

        public OutputGapException(long expected, long got) {
            super("the sink expects output " + expected + " next, not " + got);
            this.expected = expected;
        }

        public long expected() {
            return expected;
        }
    }
}
