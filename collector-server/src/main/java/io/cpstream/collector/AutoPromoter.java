package io.cpstream.collector;

import io.grpc.StatusException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The optional policy that promotes a standby without an operator: once its primary has been silent
 * for the configured time and its lease has run out (so it cannot be releasing output any more), and
 * the standby holds a complete committed epoch. A silence alone is never enough while a lease runs.
 */
final class AutoPromoter implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(AutoPromoter.class.getName());
    private static final long CHECK_MILLIS = 100;

    private final StandbyRegistry registry;
    private final long silenceNanos;
    private final Thread thread;
    private volatile boolean running = true;

    AutoPromoter(StandbyRegistry registry, Duration silence) {
        this.registry = registry;
        this.silenceNanos = silence.toNanos();
        this.thread = Thread.ofPlatform().daemon().name("auto-promoter").start(this::run);
    }

    private void run() {
        while (running) {
            for (Standby standby : registry.all()) {
                if (standby.dueForAutomaticPromotion(silenceNanos)) {
                    try {
                        var promoted = registry.promote(standby.vm(), false);
                        LOG.log(System.Logger.Level.WARNING, "vm {0}: primary silent for over {1} ms; promoted "
                                + "automatically at epoch {2}", standby.vm(), TimeUnit.NANOSECONDS.toMillis(silenceNanos),
                                promoted.getPromotedEpoch());
                    } catch (StatusException e) {
                        LOG.log(System.Logger.Level.DEBUG, "vm {0}: automatic promotion declined: {1}", standby.vm(),
                                e.getStatus());
                    }
                }
            }
            try {
                Thread.sleep(CHECK_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
    }
}
