package io.cpstream.collector;

import io.cpstream.collector.lease.LeaseAuthority;
import io.cpstream.collector.store.ImageStore;
import io.cpstream.coordination.CoordinationException;
import io.cpstream.collector.store.StandbyManifest;
import io.cpstream.proto.Hello;
import io.cpstream.proto.Welcome;
import java.io.IOException;
import java.util.HashMap;

/**
 * Whether a primary may feed a standby (its Hello), and the fencing epoch it must present (invariant I3). The
 * authority's answers are asked for outside the standby's lock (see {@link Standby}); the rest runs under it.
 */
final class Admission {

    private static final System.Logger LOG = System.getLogger(Admission.class.getName());

    private Admission() {
    }

    /** The standby was created for one guest geometry; an agent of another one is refused. */
    static void requireGeometry(String vm, ImageStore store, Hello hello) throws StandbyException {
        StandbyManifest manifest = store.manifest();
        if (hello.getPageSize() != manifest.pageSize() || hello.getPageCount() != manifest.pageCount()) {
            throw StandbyException.precondition(String.format(
                    "vm %s has a standby of %d pages of %d bytes here, the agent has %s pages of %d bytes; "
                            + "use another --vm, or remove %s on the collector to start over",
                    vm, manifest.pageCount(), manifest.pageSize(), Long.toUnsignedString(hello.getPageCount()),
                    hello.getPageSize(), store.directory()));
        }
    }

    /** The fencing epoch of {@code vm} as the authority knows it, given the collector's own record. Remote I/O. */
    static long authoritativeEpoch(LeaseAuthority leases, String vm, long local) throws StandbyException {
        try {
            return leases.fencingEpoch(vm, local);
        } catch (CoordinationException e) {
            throw StandbyException.retryLater("vm " + vm + ": cannot consult the lease authority (" + leases + "): "
                    + e.getMessage(), e);
        }
    }

    /**
     * Admits the primary that said {@code hello}, or refuses it as fenced; records its fencing epoch and source.
     * A promoted standby accepts only the promoted VM's new primary (re-protection), which presents the
     * promotion's fencing epoch: a new reign starts with a full sync, and the snapshot stays on disk.
     */
    static void admit(String vm, ImageStore store, Hello hello, long authoritative) throws StandbyException {
        StandbyManifest manifest = store.manifest();
        long presented = hello.getFencingEpoch();
        if (manifest.promoted() && presented < manifest.fencingEpoch()) {
            throw StandbyException.fenced(vm, "was promoted at epoch " + manifest.committedEpoch());
        }
        long known = Math.max(authoritative, manifest.fencingEpoch());
        if (presented < 0 || presented > known) {
            // Epochs are the authority's to issue (I6): a primary presents one it was given, never a higher one.
            throw StandbyException.invalid("vm " + vm + " has fencing epoch " + known + " and the agent presented "
                    + Long.toUnsignedString(presented) + "; an agent may present only an epoch the authority gave it");
        }
        if (presented < known) {
            throw StandbyException.fenced(vm, "has fencing epoch " + known + " and the agent presented " + presented);
        }
        StandbyManifest next = manifest;
        if (manifest.promoted()) {
            next = next.withReprotection();
            LOG.log(System.Logger.Level.INFO, "vm {0}: re-protecting its promoted primary (fencing epoch {1})", vm,
                    presented);
        }
        if (presented > next.fencingEpoch()) {
            next = next.withFencingEpoch(presented);
        }
        if (!hello.getSource().getKind().equals(String.valueOf(next.sourceKind()))
                || !hello.getSource().getParamsMap().equals(next.sourceParams())) {
            next = next.withSource(hello.getSource().getKind(), new HashMap<>(hello.getSource().getParamsMap()));
        }
        if (next != manifest) {
            try {
                store.updateManifest(next);
            } catch (IOException e) {
                throw StandbyException.storage("recording the new agent of vm " + vm, e);
            }
        }
    }

    /** Where the standby stands, for the primary it just admitted. */
    static Welcome welcome(ImageStore store, String collectorId, long versionsKnownAfter) {
        StandbyManifest manifest = store.manifest();
        return Welcome.newBuilder()
                .setCommittedEpoch(manifest.committedEpoch())
                .setFencingEpoch(manifest.fencingEpoch())
                .setFullSyncRequired(manifest.fullSyncRequired())
                .setCollectorId(collectorId)
                .setLineage(manifest.lineage())
                .setCommittedOutputEnd(store.committed().outputs().end())
                .setPageVersionsAfter(versionsKnownAfter)
                .build();
    }

    /** Raises the fencing epoch of {@code vm} from {@code expected} at the authority. Remote I/O. */
    static long raise(LeaseAuthority leases, String vm, long expected) throws StandbyException {
        try {
            return leases.raise(vm, expected);
        } catch (CoordinationException.Lost e) {
            throw StandbyException.lostRace(e.getMessage());
        } catch (CoordinationException e) {
            throw StandbyException.retryLater("vm " + vm + ": cannot raise its fencing epoch (" + leases + "): "
                    + e.getMessage(), e);
        }
    }
}
