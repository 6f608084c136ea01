package io.cpstream.collector.store;

/**
 * What an acknowledged epoch survives.
 *
 * <ul>
 *   <li>{@link #NONE}: the commit is in the page cache before the ack, nothing is forced. It survives a crash or
 *       kill of the collector process: the standby reopens at exactly the acknowledged epoch. It does not survive
 *       a crash of the collector's host (power loss, kernel panic): the kernel may have written back pages of
 *       several epochs, the journal and the renames may be lost. The standby detects this at its next open (the
 *       host's boot id changed) and comes back requiring a full sync: it cannot be promoted, and it is protection
 *       again once the agent has re-sent the whole guest. Fine while the primary lives; a power loss of the
 *       standby's host during a primary failure loses the VM.</li>
 *   <li>{@link #FSYNC}: the sealed journal is forced before the apply, and the image, the state file, the
 *       manifest and the directory entries of their renames are forced before the ack. An acknowledged epoch
 *       survives a power loss of the collector's host, at the price of about four fsyncs per epoch.</li>
 * </ul>
 * In both modes the standby after any crash is exactly one committed epoch or marked as needing a full sync,
 * never a mix that could be promoted.
 */
public enum Durability {
    NONE,
    FSYNC;

    /** Whether writes are forced to stable storage before an epoch is acknowledged. */
    public boolean durable() {
        return this == FSYNC;
    }
}
