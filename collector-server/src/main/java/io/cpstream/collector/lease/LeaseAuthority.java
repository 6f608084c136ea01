package io.cpstream.collector.lease;

import io.cpstream.coordination.CoordinationException;
import java.util.function.LongConsumer;

/**
 * Who decides which primary of a VM may act, and how promotion raises a VM's fencing epoch. A
 * collector asks it before admitting a primary, before granting it a lease (each heartbeat), and
 * when promoting. {@link LocalLeases} serves a single collector from its own manifests;
 * {@link ZooKeeperLeases} shares the decision between the collectors of several hosts.
 */
public interface LeaseAuthority extends AutoCloseable {

    /**
     * The fencing epoch of {@code vm} as the authority knows it, given the collector's own record
     * {@code local}; a primary presenting less must be refused.
     */
    long fencingEpoch(String vm, long local) throws CoordinationException;

    /**
     * This collector is about to grant the primary of {@code vm} at {@code fencingEpoch} a lease.
     * Returns false when it must not: the VM was promoted elsewhere, or this collector cannot prove
     * it still speaks for the VM (e.g. it lost its coordination session).
     */
    boolean mayGrant(String vm, long fencingEpoch, String holder);

    /** The primary of {@code vm} served here no longer holds a lease (it stopped and its lease ran out). */
    void released(String vm);

    /** True when a primary of {@code vm} holds a lease granted by another collector. */
    boolean heldElsewhere(String vm);

    /**
     * Raises the fencing epoch of {@code vm} from {@code expected} by one, atomically across every
     * collector of this authority, and returns the new epoch.
     *
     * @throws CoordinationException.Lost when another promotion raised it first
     */
    long raise(String vm, long expected) throws CoordinationException;

    /** Calls {@code listener} with the new epoch whenever {@code vm}'s fencing epoch is raised elsewhere. */
    void watch(String vm, LongConsumer listener);

    @Override
    void close();
}
