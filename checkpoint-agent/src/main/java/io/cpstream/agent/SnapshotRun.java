package io.cpstream.agent;

import io.cpstream.snapshot.PromotedSnapshot;
import io.cpstream.tracker.OutputTap;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;

/**
 * A promoted snapshot running as a VM again: restored, started, its outputs logged, and optionally
 * protected once more by an agent streaming it to a collector. What {@code run} does, and what
 * {@code demo} does after promotion. With an agent this is re-protection: the agent presents the snapshot's
 * fencing epoch, and releases the outputs the snapshot holds before any of its own.
 */
public final class SnapshotRun implements AutoCloseable {

    private final PromotedSnapshot snapshot;
    private final OutputTap guest;
    private final Agent agent;
    private boolean closed;

    /** Thrown by {@link #check()}: the restored VM stopped on an error, or its agent was refused. */
    public static final class Stopped extends RuntimeException {
        Stopped(String message) {
            super(message);
        }
    }

    /**
     * @param outputs sees every output of the restored VM, with the epoch it belongs to
     * @param protect how to protect the restored VM (collector, vm, fencing epoch), or null to just run it
     */
    public SnapshotRun(PromotedSnapshot snapshot, OutputTap.Listener outputs, AgentConfig protect,
                       MeterRegistry registry) throws IOException {
        this.snapshot = snapshot;
        this.guest = new OutputTap(snapshot.restore(), outputs);
        Agent protector = null;
        try {
            if (protect != null) {
                protector = new Agent(protect, guest, registry);
                var inherited = snapshot.manifest().outputs();
                if (inherited.end() > 0) {
                    // Committed outputs the old primary may never have released: the new primary releases them first.
                    protector.seedOutputs(inherited.start(), inherited.records());
                }
            }
        } catch (RuntimeException e) {
            if (protector != null) {
                protector.close();
            }
            guest.close();
            throw e;
        }
        this.agent = protector;
    }

    public PromotedSnapshot snapshot() {
        return snapshot;
    }

    /** Resumes the VM where the snapshot's epoch left it (and starts protecting it). */
    public void start() {
        if (agent != null) {
            agent.start();
        } else {
            guest.start();
        }
    }

    /** The restored guest (outputs through the listener; inputs, for a guest that takes them, go here). */
    public io.cpstream.tracker.MemorySource guest() {
        return guest.guest();
    }

    /** The agent protecting the restored VM, or null. */
    public Agent agent() {
        return agent;
    }

    /**
     * Takes the outputs emitted since the last call (with an agent, its stuns take them at each epoch) and
     * fails with the reason if the guest stopped on an error or the agent was refused.
     */
    public void check() {
        if (agent == null) {
            guest.pollOutputs();
        } else if (agent.failure() != null) {
            throw new Stopped("protecting the restored VM failed: " + Agent.describe(agent.failure()));
        }
        guest.fault().ifPresent(reason -> {
            throw new Stopped("the restored VM stopped: " + reason);
        });
    }

    /** Stops the agent and the VM; safe to call more than once (a shutdown hook may race the normal end). */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (agent != null) {
                agent.close();
            }
        } finally {
            guest.close();
        }
    }
}
