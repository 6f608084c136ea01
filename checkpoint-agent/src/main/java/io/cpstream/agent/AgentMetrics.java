package io.cpstream.agent;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.function.Supplier;

/** The agent's meters, named {@code cpstream_agent_*} once exported to Prometheus. */
final class AgentMetrics {

    final Timer pause;
    final Timer lag;
    final Counter checkpoints;
    final Counter fullCheckpoints;
    final DistributionSummary dirtyPages;
    final Counter pagesSent;
    final Counter wireBytes;
    final Counter rawBytes;
    final Counter zeroPages;
    final Counter resyncs;
    final Counter reconnects;
    // Short stuns: what moved out of the stun, and how epochs adapt.
    final Counter deferredPages;
    final Counter cowFaults;
    final Counter stunTargetMisses;
    final Counter bandwidthExceeded;
    final java.util.concurrent.atomic.AtomicLong epochIntervalMicros = new java.util.concurrent.atomic.AtomicLong();

    AgentMetrics(MeterRegistry registry, String vm, Supplier<Number> committedEpoch, Supplier<Number> inFlight,
                 Supplier<Number> connected) {
        pause = Timer.builder("cpstream.agent.pause").description("How long the guest was stopped for a checkpoint")
                .tag("vm", vm).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofNanos(10_000)).maximumExpectedValue(Duration.ofSeconds(2))
                .register(registry);
        lag = Timer.builder("cpstream.agent.lag")
                .description("From the stun of an epoch to the collector's acknowledgement of it")
                .tag("vm", vm).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofNanos(100_000)).maximumExpectedValue(Duration.ofSeconds(60))
                .register(registry);
        checkpoints = counter(registry, "cpstream.agent.checkpoints", "Checkpoints captured", vm);
        fullCheckpoints = counter(registry, "cpstream.agent.checkpoints.full", "Checkpoints that carried every page", vm);
        dirtyPages = DistributionSummary.builder("cpstream.agent.dirty.pages")
                .description("Pages the guest dirtied per epoch").tag("vm", vm).register(registry);
        pagesSent = counter(registry, "cpstream.agent.pages.sent", "Page records sent", vm);
        wireBytes = counter(registry, "cpstream.agent.wire.bytes", "Bytes of page payload sent", vm);
        rawBytes = counter(registry, "cpstream.agent.raw.bytes", "Bytes of the pages sent, before encoding", vm);
        zeroPages = counter(registry, "cpstream.agent.zero.pages", "Pages sent as zero pages", vm);
        resyncs = counter(registry, "cpstream.agent.resyncs", "Resyncs requested by the collector", vm);
        reconnects = counter(registry, "cpstream.agent.reconnects", "Streams opened after the first", vm);
        deferredPages = counter(registry, "cpstream.agent.deferred.pages",
                "Stable pages write-protected at the stun and copied after the guest resumed", vm);
        cowFaults = counter(registry, "cpstream.agent.cow.faults",
                "Protected pages the guest wrote before they were copied (saved first, copy-before-write)", vm);
        stunTargetMisses = counter(registry, "cpstream.agent.stun.target.misses",
                "Epoch decisions that could not bring the stun under its target", vm);
        bandwidthExceeded = counter(registry, "cpstream.agent.bandwidth.exceeded",
                "Epoch decisions that could not bring the stream under its bandwidth budget", vm);
        Gauge.builder("cpstream.agent.epoch.interval", epochIntervalMicros, v -> v.get() / 1e6)
                .description("Epoch length the agent chose (it adapts to the stun target and bandwidth budget)")
                .baseUnit("seconds").tag("vm", vm).register(registry);
        Gauge.builder("cpstream.agent.committed.epoch", committedEpoch).description("Newest acknowledged epoch")
                .tag("vm", vm).register(registry);
        Gauge.builder("cpstream.agent.inflight.epochs", inFlight).description("Checkpoints captured, not yet acknowledged")
                .tag("vm", vm).register(registry);
        Gauge.builder("cpstream.agent.connected", connected).description("1 while streaming to the collector")
                .tag("vm", vm).register(registry);
    }

    private static Counter counter(MeterRegistry registry, String name, String description, String vm) {
        return Counter.builder(name).description(description).tag("vm", vm).register(registry);
    }
}
