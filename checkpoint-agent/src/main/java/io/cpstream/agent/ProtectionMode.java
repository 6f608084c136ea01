package io.cpstream.agent;

/** How the agent protects its guest's output ({@code --protect}). */
public enum ProtectionMode {
    /** Output waits for the checkpoint of its epoch to be committed. */
    CHECKPOINT,
    /**
     * The guest's inputs stream to the collector as they come; output waits only for those before it to be journaled
     * ({@link Agent#protectByReplay}; {@code emu} sources). Checkpoints still run, bounding what a promotion replays.
     */
    REPLAY,
    /**
     * Record/replay, and the collector runs a secondary of the guest from its committed checkpoint and the log,
     * compares each of its outputs with the primary's, and resynchronizes it from the next checkpoint on a mismatch;
     * an output is released once it matched ({@link Agent#protectByLockstep}; quasi-lockstep).
     */
    LOCKSTEP
}
