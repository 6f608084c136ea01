package io.cpstream.collector;

import io.cpstream.collector.store.EventJournal;
import io.cpstream.tracker.kvm.KvmSource;
import java.util.concurrent.Semaphore;

/**
 * The quasi-lockstep secondaries one collector runs, over all its VMs: each costs an emulated guest of its primary's
 * memory size and a thread, so there are at most {@code lockstep-secondaries} of them. A primary asking for one
 * beyond that, or for a guest this host cannot emulate, is told why, and its outputs go as under record/replay.
 */
final class LockstepPool {

    /** A secondary, or why there is none. */
    record Granted(LockstepSecondary secondary, String refusal) {
    }

    private final CollectorConfig.Lockstep settings;
    private final Semaphore slots;

    LockstepPool(CollectorConfig.Lockstep settings) {
        this.settings = settings;
        this.slots = new Semaphore(settings.maxSecondaries());
    }

    /** A secondary for {@code vm}, whose standby holds a guest of {@code sourceKind}. */
    Granted open(String vm, String sourceKind, EventJournal events, CollectorMetrics metrics) {
        if (!"emu".equals(sourceKind)) {
            return new Granted(null, "a " + (sourceKind == null || sourceKind.isEmpty() ? "guest of unknown kind"
                    : sourceKind + " guest") + " cannot be replayed (only emu guests can)");
        }
        String missing = KvmSource.unavailableReason("emu").orElse(null);
        if (missing != null) {
            return new Granted(null, "this collector host cannot emulate the guest: " + missing);
        }
        if (!slots.tryAcquire()) {
            return new Granted(null, "all " + settings.maxSecondaries() + " lockstep secondaries of this collector "
                    + "are in use (lockstep-secondaries)");
        }
        return new Granted(new LockstepSecondary(vm, events, settings.verifyEvery(), metrics, slots::release), null);
    }
}
