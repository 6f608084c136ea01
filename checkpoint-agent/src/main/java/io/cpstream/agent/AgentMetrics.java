package io.cpstream.agent;

import io.cpstream.encoder.PageEncoding;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The agent's meters, all tagged with the VM, named {@code cpstream_agent_*} once exported to
 * Prometheus. The catalogue (name, meaning, who updates it) is in grafana/README.md.
 *
 * <p>Every meter is registered here, up front, even when the feature that updates it is not wired yet:
 * a dashboard then shows 0 rather than "no data", and the code that implements the feature only has to
 * call the meter.
 */
final class AgentMetrics {

    /** Stun: how long the guest was stopped for one checkpoint. */
    final Timer pause;
    /** From the stun of an epoch to the collector's acknowledgement of it. */
    final Timer lag;
    /** Record/replay: from sending a chunk of the guest's inputs to the collector's acknowledgement of it. */
    final Timer eventLogAck;
    final Counter checkpoints;
    final Counter fullCheckpoints;
    final DistributionSummary dirtyPages;
    final Counter pagesSent;
    final Counter wireBytes;
    final Counter rawBytes;
    final Counter zeroPages;
    final Counter resyncs;
    final Counter reconnects;
    final Counter wentAlone;
    final Counter heartbeatsSkipped;
    // Short stuns: what moved out of the stun, and how epochs adapt.
    final Counter deferredPages;
    final Counter cowFaults;
    final Counter mergedEpochs;
    final Counter stagingAllocations;
    final Counter stunTargetMisses;
    final Counter bandwidthExceeded;
    final java.util.concurrent.atomic.AtomicLong epochIntervalMicros = new java.util.concurrent.atomic.AtomicLong();
    /** Page records sent, by the encoding chosen for them; see {@link #pagesEncoded(PageEncoding)}. */
    private final Map<PageEncoding, Counter> pagesEncoded = new EnumMap<>(PageEncoding.class);
    /** Dirty pages the collector's feedback had marked as delta candidates (the encoder increments it). */
    final Counter deltaCandidatePages;
    /** Of {@link #deltaCandidatePages}, those actually sent as a delta (the encoder increments it). */
    final Counter deltaCandidateHits;
    /** Pages the collector asked to have resent whole because their checksum did not match (I4). */
    final Counter checksumResends;

    AgentMetrics(MeterRegistry registry, String vm, Supplier<Number> committedEpoch, Supplier<Number> inFlight,
                 Supplier<Number> connected, Supplier<Number> protectedByStandby) {
        pause = Timer.builder("cpstream.agent.pause")
                .description("Stun: how long the guest was stopped for a checkpoint")
                .tag("vm", vm).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofNanos(10_000)).maximumExpectedValue(Duration.ofSeconds(2))
                .register(registry);
        lag = Timer.builder("cpstream.agent.lag")
                .description("From the stun of an epoch to the collector's acknowledgement of it")
                .tag("vm", vm).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofNanos(100_000)).maximumExpectedValue(Duration.ofSeconds(60))
                .register(registry);
        eventLogAck = Timer.builder("cpstream.agent.event.log.ack")
                .description("Record/replay: from sending a chunk of the guest's inputs to the collector's "
                        + "acknowledgement of it (what a released output waits for after its input)")
                .tag("vm", vm).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofNanos(10_000)).maximumExpectedValue(Duration.ofSeconds(10))
                .register(registry);
        checkpoints = counter(registry, "cpstream.agent.checkpoints", "Checkpoints captured", vm);
        fullCheckpoints = counter(registry, "cpstream.agent.checkpoints.full", "Checkpoints that carried every page", vm);
        dirtyPages = DistributionSummary.builder("cpstream.agent.dirty.pages")
                .description("Pages the guest dirtied per epoch").tag("vm", vm).register(registry);
        pagesSent = counter(registry, "cpstream.agent.pages.sent", "Page records sent", vm);
        wireBytes = counter(registry, "cpstream.agent.wire.bytes", "Bytes of page messages sent (Begin, page batches, Commit: serialized, with gRPC's 5-byte prefix)", vm);
        rawBytes = counter(registry, "cpstream.agent.raw.bytes", "Bytes of the pages sent, before encoding", vm);
        zeroPages = counter(registry, "cpstream.agent.zero.pages", "Pages sent as zero pages", vm);
        resyncs = counter(registry, "cpstream.agent.resyncs", "Resyncs requested by the collector", vm);
        reconnects = counter(registry, "cpstream.agent.reconnects", "Streams opened after the first", vm);
        heartbeatsSkipped = counter(registry, "cpstream.agent.heartbeats.skipped",
                "Heartbeats not sent because the Lease call could not take one (its connection congested or reopening)",
                vm);
        wentAlone = counter(registry, "cpstream.agent.standby.lost",
                "Times this primary lost its standby for longer than the standby timeout and went on alone", vm);
        Gauge.builder("cpstream.agent.protected", protectedByStandby)
                .description("1 while a standby protects this primary; 0 from going on alone after losing its standby until a standby "
                        + "holds every output released meanwhile")
                .tag("vm", vm).register(registry);
        deferredPages = counter(registry, "cpstream.agent.deferred.pages",
                "Stable pages write-protected at the stun and copied after the guest resumed", vm);
        cowFaults = counter(registry, "cpstream.agent.cow.faults",
                "Protected pages the guest wrote before they were copied (saved first, copy-before-write)", vm);
        mergedEpochs = counter(registry, "cpstream.agent.merged.epochs",
                "Epoch boundaries passed without a stun while the pipeline was full: merged into the next checkpoint", vm);
        stagingAllocations = counter(registry, "cpstream.agent.staging.allocations",
                "Stuns that had to allocate their staging buffer (the dirty set outgrew the one reserved before it)", vm);
        stunTargetMisses = counter(registry, "cpstream.agent.stun.target.misses",
                "Epoch decisions that could not bring the stun under its target", vm);
        bandwidthExceeded = counter(registry, "cpstream.agent.bandwidth.exceeded",
                "Epoch decisions that could not bring the stream under its bandwidth budget", vm);
        Gauge.builder("cpstream.agent.epoch.interval", epochIntervalMicros, v -> v.get() / 1e6)
                .description("Epoch length the agent chose (it adapts to the stun target and bandwidth budget)")
                .baseUnit("seconds").tag("vm", vm).register(registry);
        for (PageEncoding encoding : PageEncoding.values()) {
            pagesEncoded.put(encoding, Counter.builder("cpstream.agent.pages.encoded")
                    .description("Page records sent, by encoding").tag("vm", vm)
                    .tag("encoding", encoding.name().toLowerCase(Locale.ROOT)).register(registry));
        }
        deltaCandidatePages = counter(registry, "cpstream.agent.delta.candidates",
                "Dirty pages the collector had marked as delta candidates", vm);
        deltaCandidateHits = counter(registry, "cpstream.agent.delta.candidate.hits",
                "Delta-candidate pages that were sent as a delta", vm);
        checksumResends = counter(registry, "cpstream.agent.checksum.resends",
                "Pages resent whole because the collector found a checksum mismatch", vm);
        Gauge.builder("cpstream.agent.committed.epoch", committedEpoch).description("Newest acknowledged epoch")
                .tag("vm", vm).register(registry);
        Gauge.builder("cpstream.agent.inflight.epochs", inFlight).description("Checkpoints captured, not yet acknowledged")
                .tag("vm", vm).register(registry);
        Gauge.builder("cpstream.agent.connected", connected).description("1 while streaming to the collector")
                .tag("vm", vm).register(registry);
        // Output, lease and fencing meters: OutputMetrics, next to what they measure.
    }

    /** The counter of page records sent with {@code encoding}. */
    Counter pagesEncoded(PageEncoding encoding) {
        Counter counter = pagesEncoded.get(encoding);
        if (counter == null) {
            throw new IllegalArgumentException("no page encoding " + encoding);
        }
        return counter;
    }

    private static Counter counter(MeterRegistry registry, String name, String description, String vm) {
        return Counter.builder(name).description(description).tag("vm", vm).register(registry);
    }
}
