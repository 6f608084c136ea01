package io.cpstream.collector;

import io.cpstream.collector.store.EventJournal;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.collector.store.StandbyManifest;
import io.cpstream.proto.VmState;
import io.cpstream.proto.VmStatus;
import java.util.concurrent.TimeUnit;

/** Where one standby stands, as operators see it (admin API, {@code cpstream status}, health checks). */
final class StandbyStatus {

    private StandbyStatus() {
    }

    static VmStatus of(String vm, ImageStore store, CheckpointIntake intake, PrimaryLiveness liveness,
                       String agentId, boolean streaming, long leaseRemainingNanos, EventJournal events,
                       LockstepSecondary.View lockstep) {
        StandbyManifest manifest = store.manifest();
        VmState state;
        if (manifest.promoted()) {
            state = VmState.VM_PROMOTED;
        } else if (!streaming) {
            state = VmState.VM_DISCONNECTED;
        } else {
            state = intake.counters().committedOnThisStream() ? VmState.VM_REPLICATING : VmState.VM_SYNCING;
        }
        VmStatus.Builder status = VmStatus.newBuilder()
                .setVmId(vm)
                .setState(state)
                .setCommittedEpoch(manifest.committedEpoch())
                .setFencingEpoch(manifest.fencingEpoch())
                .setLagMs(lagMillis(manifest))
                .setPageSize(manifest.pageSize())
                .setPageCount(manifest.pageCount())
                .setAgentId(agentId)
                .setLastCommitUnixMicros(intake.counters().lastCommitUnixMicros())
                .setEpochsCommitted(intake.counters().epochsCommitted())
                .setPagesReceived(intake.counters().pagesReceived())
                .setWireBytesReceived(intake.counters().wireBytesReceived())
                .setOutputEnd(store.committed().outputs().end())
                .setLeaseRemainingMs(ceilMillis(leaseRemainingNanos))
                .setSilentMs(liveness.heardAny() ? TimeUnit.NANOSECONDS.toMillis(liveness.silentNanos()) : -1)
                .setLastStunMicros(intake.counters().lastStunMicros());
        ImageStore.SharingStats sharing = store.sharing();
        status.setSharedPages(sharing.sharedPages()).setSharedSavedBytes(sharing.savedBytes());
        events.extent().ifPresent(held -> status.setEventLogFrom(held.from()).setEventLogEnd(held.end())
                .setEventLogBytes(held.bytes()));
        if (lockstep != null) {
            status.setLockstepState(lockstep.state()).setLockstepComparedOutputEnd(lockstep.comparedOutputEnd())
                    .setLockstepMismatches(lockstep.mismatches()).setLockstepResyncs(lockstep.resyncs())
                    .setLockstepVerifications(lockstep.verifications())
                    .setLockstepMemoryDivergences(lockstep.divergences())
                    .setLockstepLastMismatchOutput(lockstep.lastMismatchOutput());
        }
        if (manifest.snapshotPath() != null) {
            status.setSnapshotPath(manifest.snapshotPath());
        }
        return status.build();
    }

    /** How far the standby trails the primary: now minus the stun time of the committed epoch; -1 if none. */
    static long lagMillis(StandbyManifest manifest) {
        long stun = manifest.stunUnixMicros();
        long now = TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis());
        return stun <= 0 ? -1 : Math.max(0, (now - stun) / 1000);
    }

    /** Rounds up, so that a lease with any time left never reads as 0 ms (which means free). */
    private static long ceilMillis(long nanos) {
        return (nanos + 999_999) / 1_000_000;
    }
}
