package io.cpstream.collector;

import io.cpstream.proto.VmState;
import io.cpstream.proto.VmStatus;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The optional policy that promotes a standby without an operator: once its primary has been silent
 * for the configured time and its lease has run out (so it cannot be releasing output any more), and
 * the standby holds a complete committed epoch. A silence alone is never enough while a lease runs.
 * The registry's periodic pass over its standbys asks it about each one.
 */
final class AutoPromoter {

    private static final System.Logger LOG = System.getLogger(AutoPromoter.class.getName());

    private final long silenceNanos;

    AutoPromoter(Duration silence) {
        this.silenceNanos = silence.toNanos();
    }

    /** Promotes {@code standby} through {@code registry} if the policy says its primary is gone. */
    void consider(StandbyRegistry registry, Standby standby) {
        VmStatus status = standby.status();
        boolean due = status.getState() != VmState.VM_PROMOTED && status.getCommittedEpoch() > 0
                && status.getLeaseRemainingMs() == 0 && status.getSilentMs() >= TimeUnit.NANOSECONDS.toMillis(silenceNanos);
        if (!due) {
            return; // heard since this collector started, silent long enough, no lease, something to promote
        }
        try {
            var promoted = registry.promote(standby.vm(), false);
            LOG.log(System.Logger.Level.WARNING, "vm {0}: primary silent for over {1} ms; promoted automatically at "
                    + "epoch {2}", standby.vm(), TimeUnit.NANOSECONDS.toMillis(silenceNanos), promoted.getPromotedEpoch());
        } catch (StandbyException e) {
            LOG.log(System.Logger.Level.DEBUG, "vm {0}: automatic promotion declined: {1}", standby.vm(), e.getMessage());
        }
    }
}
