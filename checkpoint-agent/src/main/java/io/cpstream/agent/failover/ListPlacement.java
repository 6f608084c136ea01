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
        Set<String> avoided = avoid.current();
        for (int i = 0; i < addresses.size(); i++) {
            String address = addresses.get((cursor + i) % addresses.size());
            if (!avoided.contains(address)) {
                return new Target(address, address);
            }
        }
        String address = addresses.get(cursor % addresses.size());
        return new Target(address, address);
    }

    @Override
    public synchronized Target successor(Target target) {
        Set<String> avoided = new java.util.HashSet<>(avoid.current());
        avoided.add(target.id());
        int after = addresses.indexOf(target.address()) + 1;
        for (int i = 0; i < addresses.size(); i++) {
            String address = addresses.get((after + i) % addresses.size());
            if (!avoided.contains(address)) {
                return new Target(address, address);
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
