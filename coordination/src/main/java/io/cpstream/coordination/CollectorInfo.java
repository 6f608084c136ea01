package io.cpstream.coordination;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A collector as the pool shows it to agents: where to reach it, which host it runs on, and how loaded it is.
 *
 * @param id            the collector's id (unique in the pool)
 * @param address       {@code host:port} agents stream to
 * @param host          the machine it runs on: an agent is never placed on a collector of its own host
 * @param vms           standbys it holds
 * @param guestBytes    guest memory of those standbys, in all
 * @param maxGuestBytes the largest guest it accepts (its capacity for one more)
 */
public record CollectorInfo(String id, String address, String host, int vms, long guestBytes, long maxGuestBytes) {

    /**
     * The collector an agent of {@code ownHost} protecting a guest of {@code guestBytes} should use: the least
     * loaded of those that take such a guest, not on the agent's own host (a host failure would take primary and
     * standby at once) and not in {@code avoid} (the ones it just lost). Empty when none qualifies.
     */
    public static Optional<CollectorInfo> choose(List<CollectorInfo> members, String ownHost, Set<String> avoid,
                                                 long guestBytes) {
        return members.stream()
                .filter(c -> !avoid.contains(c.id()))
                .filter(c -> ownHost == null || ownHost.isEmpty() || !ownHost.equals(c.host()))
                .filter(c -> guestBytes <= c.maxGuestBytes())
                .min(Comparator.comparingDouble(CollectorInfo::load).thenComparingInt(CollectorInfo::vms)
                        .thenComparing(CollectorInfo::id));
    }

    /** How full it is: guest memory held per guest memory it accepts at most for one VM. */
    double load() {
        return maxGuestBytes <= 0 ? Double.MAX_VALUE : (double) guestBytes / maxGuestBytes;
    }
}
