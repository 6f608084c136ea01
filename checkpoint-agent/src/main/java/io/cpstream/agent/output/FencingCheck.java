package io.cpstream.agent.output;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Judges the fencing epoch a primary presents to the output sink against its {@link FencingAuthority}: equal is
 * allowed, lower was taken over (a promotion, or a primary that went on alone, raised the epoch), higher was never
 * granted. The authority is asked at most once per {@link #FRESH_NANOS} per VM for a primary presenting the epoch
 * last heard, so a write costs no round trip; any other epoch is asked about at once, since epochs only rise.
 *
 * <p>When the authority cannot be asked, the last epoch heard from it still holds: the primary that held it keeps
 * releasing (a sink that stopped every primary whenever ZooKeeper or a collector restarts would stop the guests it
 * serves), a lower one is still fenced, and anything else waits until the authority answers.
 */
final class FencingCheck {

    private static final System.Logger LOG = System.getLogger(FencingCheck.class.getName());
    /** How long an answer stands for a primary presenting the same epoch. */
    static final long FRESH_NANOS = 1_000_000_000L;
    /** VMs remembered; VM names come from clients, so the memory of them is bounded (it is only a cache). */
    private static final int MAX_REMEMBERED = 4096;

    enum Outcome {
        ALLOWED,
        /** Below the authority's epoch: taken over. */
        TAKEN_OVER,
        /** Above the authority's epoch: the client made it up. */
        NOT_GRANTED,
        /**
         * The authority cannot be asked and has not confirmed this epoch before, or holds no epoch for the VM yet:
         * try again later.
         */
        UNAVAILABLE
    }

    record Verdict(Outcome outcome, String reason) {
        static final Verdict ALLOWED = new Verdict(Outcome.ALLOWED, "");
    }

    private record Heard(long epoch, long atNanos) {
    }

    private final FencingAuthority authority;
    private final Map<String, Heard> heard = new ConcurrentHashMap<>();

    FencingCheck(FencingAuthority authority) {
        this.authority = java.util.Objects.requireNonNull(authority);
    }

    Verdict check(String vm, long presented) {
        Heard last = heard.get(vm);
        long now = System.nanoTime();
        if (last != null && last.epoch == presented && now - last.atNanos < FRESH_NANOS) {
            return Verdict.ALLOWED;
        }
        long epoch;
        try {
            epoch = authority.fencingEpoch(vm);
        } catch (IOException e) {
            if (last != null) {
                // Counted as an answer, so a primary at the confirmed epoch does not wait on the authority every write.
                remember(vm, new Heard(last.epoch, now));
            }
            LOG.log(System.Logger.Level.WARNING, "output receiver: cannot ask the fencing authority about vm " + vm
                    + ": " + e.getMessage() + (last == null ? "" : "; using its last answer, fencing epoch "
                    + last.epoch));
            if (last == null || presented > last.epoch) {
                return new Verdict(Outcome.UNAVAILABLE, "vm " + vm + ": the fencing authority cannot be asked now "
                        + "whether fencing epoch " + presented + " holds; try again");
            }
            epoch = last.epoch;
        }
        if (epoch >= 0) {
            remember(vm, new Heard(epoch, now));
        }
        if (epoch < 0) {
            // Not yet rather than never: a primary opens the sink as it starts, before its collector admitted it.
            return new Verdict(Outcome.UNAVAILABLE, "vm " + vm + ": the fencing authority holds no fencing epoch for "
                    + "it yet (no collector has admitted it); try again");
        }
        if (presented < epoch) {
            return new Verdict(Outcome.TAKEN_OVER, "vm " + vm + ": the fencing authority holds fencing epoch " + epoch
                    + "; this primary (fencing epoch " + presented + ") was taken over and must not release output");
        }
        if (presented > epoch) {
            return new Verdict(Outcome.NOT_GRANTED, "vm " + vm + ": fencing epoch " + presented + " was never granted"
                    + " (the fencing authority holds " + epoch + ")");
        }
        return Verdict.ALLOWED;
    }

    private void remember(String vm, Heard answer) {
        if (heard.size() >= MAX_REMEMBERED && !heard.containsKey(vm)) {
            heard.clear();
        }
        heard.put(vm, answer);
    }
}
