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
    private final Map<PageEncoding, Counter> pagesByEncoding = new EnumMap<>(PageEncoding.class);

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
        for (PageEncoding encoding : PageEncoding.values()) {
            pagesByEncoding.put(encoding, Counter.builder("cpstream.agent.pages.encoded")
                    .description("Page records sent, by encoding (delta: a delta base hit)")
                    .tag("vm", vm).tag("encoding", encoding.name().toLowerCase(Locale.ROOT)).register(registry));
        }
        Gauge.builder("cpstream.agent.committed.epoch", committedEpoch).description("Newest acknowledged epoch")
                .tag("vm", vm).register(registry);
        Gauge.builder("cpstream.agent.inflight.epochs", inFlight).description("Checkpoints captured, not yet acknowledged")
                .tag("vm", vm).register(registry);
        Gauge.builder("cpstream.agent.connected", connected).description("1 while streaming to the collector")
                .tag("vm", vm).register(registry);
    }

    Counter pagesByEncoding(PageEncoding encoding) {
        return pagesByEncoding.get(encoding);
    }

    private static Counter counter(MeterRegistry registry, String name, String description, String vm) {
        return Counter.builder(name).description(description).tag("vm", vm).register(registry);
    }
}
