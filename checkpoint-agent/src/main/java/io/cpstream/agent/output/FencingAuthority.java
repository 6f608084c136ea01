package io.cpstream.agent.output;

import java.io.IOException;

/**
 * Who says which fencing epoch a VM's primary holds: ZooKeeper's fencing node of the VM, or the collectors that
 * protect it. An output sink with an authority judges a primary by the authority's epoch, never by the one the
 * primary claims: a client with a valid certificate for the VM can claim any epoch, and an epoch it made up would
 * fence the real primary out of the sink for good (invariant I3).
 */
@FunctionalInterface
public interface FencingAuthority {

    /**
     * The VM's fencing epoch now, or -1 when the authority has none for it.
     *
     * @throws IOException when the authority cannot be asked now
     */
    long fencingEpoch(String vm) throws IOException;
}
