package io.cpstream.agent.failover;

/** One collector, always: the agent reconnects to it until it is back. */
final class FixedPlacement implements Placement {

    private final Target target;

    FixedPlacement(String address) {
        this.target = new Target(address, address);
    }

    @Override
    public Target next() {
        return target;
    }

    @Override
    public Target successor(Target target) {
        return null;
    }

    @Override
    public void lost(Target lost) {
    }

    @Override
    public boolean canMove() {
        return false;
    }

    @Override
    public void close() {
    }

    @Override
    public String toString() {
        return target.address();
    }
}
