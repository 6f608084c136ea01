package io.cpstream.agent;

import java.time.Duration;

/**
 * What the agent does inside a stun, and how it sizes epochs.
 *
 * @param split      {@code COPY_ALL}: copy every planned page while the guest is stopped; {@code HISTORY}:
 *                   copy only the pages {@link PageHistory} deems hot, write-protect the stable ones and
 *                   copy them after the guest resumed (falls back to copy-all on a source that cannot
 *                   protect pages)
 * @param hotEpochs  a dirty page written in one of this many epochs before is hot (1..8)
 * @param maxStun    target maximum stun; null for none. With a target or a budget, epochs adapt.
 * @param maxMbps    bandwidth budget of the checkpoint stream in megabits a second; 0 for none
 */
public record StunConfig(Split split, int hotEpochs, Duration maxStun, double maxMbps) {

    public enum Split {
        COPY_ALL, HISTORY
    }

    /** The defaults of {@link AgentKeys}: the history split, no stun target, no bandwidth budget. */
    public static final StunConfig DEFAULT = new StunConfig(AgentKeys.SPLIT.defaultValue(), 2,
            null, AgentKeys.MAX_MBPS.defaultValue());

    public StunConfig {
        if (hotEpochs < 1 || hotEpochs > PageHistory.EPOCHS) {
            throw new IllegalArgumentException("hotEpochs must be 1.." + PageHistory.EPOCHS);
        }
        if (maxStun != null && (maxStun.isNegative() || maxStun.isZero())) {
            throw new IllegalArgumentException("the stun target must be positive");
        }
        if (maxMbps < 0 || Double.isNaN(maxMbps)) {
            throw new IllegalArgumentException("the bandwidth budget must not be negative");
        }
    }

    public StunConfig withSplit(Split value) {
        return new StunConfig(value, hotEpochs, maxStun, maxMbps);
    }

    public StunConfig withMaxStun(Duration value) {
        return new StunConfig(split, hotEpochs, value, maxMbps);
    }

    public StunConfig withMaxMbps(double value) {
        return new StunConfig(split, hotEpochs, maxStun, value);
    }
}
