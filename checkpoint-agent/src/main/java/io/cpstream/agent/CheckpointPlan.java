package io.cpstream.agent;

import java.util.BitSet;

/**
 * What one checkpoint will carry, decided at its stun.
 *
 * @param epoch      its number
 * @param baseEpoch  the epoch the collector must hold for these pages to make a whole image
 * @param full       carries every page (the collector's image is unusable or foreign)
 * @param pages      which pages to send
 * @param generation the connection state it was planned under; checkpoints of an older generation
 *                   are never sent (the collector would discard them)
 * @param outputStart the first output record the collector lacks (its base holds every output below)
 * @param outputEnd  outputs the guest had emitted before this stun
 */
record CheckpointPlan(long epoch, long baseEpoch, boolean full, BitSet pages, long generation, long outputStart,
                      long outputEnd) {
}
