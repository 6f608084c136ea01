package io.cpstream.agent.failover;

import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/** A fixed list of collectors: the first one not lost recently; the list in order once all were. */
final class ListPlacement implements Placement {

    private final List<String> addresses;
    private final AvoidList avoid = new AvoidList(TimeUnit.SECONDS.toNanos(60));
    private int cursor;

    ListPlacement(String list) {
        this.addresses = Arrays.stream(list.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
        if (addresses.isEmpty()) {
            throw new IllegalArgumentException("the list of collectors is empty");
        }
    }

    @Override
    public synchronized Target next() {
        String address = firstFrom(cursor, avoid.current());
        if (address == null) {
            address = addresses.get(cursor % addresses.size());
        }
        return new Target(address, address);
    }

    @Override
    public synchronized Target successor(Target target) {
        Set<String> avoided = new java.util.HashSet<>(avoid.current());
        avoided.add(target.id());
        String address = firstFrom(addresses.indexOf(target.address()) + 1, avoided);
        return address == null ? null : new Target(address, address);
    }

    /** The first address of the list, going round from {@code start}, that is not {@code avoided}; null if none. */
    private String firstFrom(int start, Set<String> avoided) {
        for (int i = 0; i < addresses.size(); i++) {
            String address = addresses.get((start + i) % addresses.size());
            if (!avoided.contains(address)) {
                return address;
            }
        }
        return null;
    }

    @Override
    public synchronized void lost(Target target) {
        avoid.add(target.id());
        cursor = (addresses.indexOf(target.address()) + 1) % addresses.size();
    }

    @Override
    public boolean canMove() {
        return addresses.size() > 1;
    }

    @Override
    public void close() {
    }

    @Override
    public String toString() {
        return String.join(",", addresses);
    }
}
