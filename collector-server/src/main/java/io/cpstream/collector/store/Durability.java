package io.cpstream.collector.store;

/**
 * What an acknowledged epoch survives.
 *
 * <ul>
 *   <li>{@link #NONE}: the commit is written to the page cache before the ack. It survives a crash or
 *       kill of the collector process, not a crash of the collector's host or a power loss.</li>
 *   <li>{@link #FSYNC}: the journal, image and manifest are forced to stable storage before the ack. An
 *       acknowledged epoch survives a power loss, at the price of two or three fsyncs per epoch.</li>
 * </ul>
 * In both modes the standby after any crash equals exactly one committed epoch, never a mix.
 */
public enum Durability {
    NONE,
    FSYNC
}
