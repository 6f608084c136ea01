package io.cpstream.collector;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.PageEncoding;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The collector's meters for one VM, tagged with the VM, named {@code cpstream_collector_*} once exported
 * to Prometheus. The catalogue (name, meaning, who updates it) is in grafana/README.md.
 */
final class CollectorMetrics {

    final Timer apply;
    final Timer commitLag;
    final Counter epochsCommitted;
    final Counter pagesReceived;
    final Counter wireBytesReceived;
    final DistributionSummary pagesPerEpoch;
    final Counter checksumMismatches;
    final Counter digestMismatches;
    final Counter digestsVerified;
    final Counter resyncsRequested;
    final Counter protocolErrors;
    final Counter promotions;
    final Counter feedbackSent;
    final Counter lockstepMismatches;
    final Counter lockstepResyncs;
    final Counter lockstepVerifications;
    final Counter lockstepDivergences;
    private final Map<PageEncoding, Counter> pagesDecoded = new EnumMap<>(PageEncoding.class);
    private final Map<CorruptPageException.Reason, Counter> pagesRejected =
            new EnumMap<>(CorruptPageException.Reason.class);

    /**
     * The buckets of the per-VM histograms: 1, 2.5 and 5 of each decade, as Prometheus's own defaults go. Micrometer's
     * percentile buckets gave 74-81 series per histogram per VM: a collector of 64 VMs served a page of 938 KB that
     * took 73-322 ms of its CPU to build, every scrape. These give 16, and a quantile read from them is off by at
     * most a bucket's width (2-2.5x), which is what a dashboard's tail needs to tell 10 ms from 100 ms.
     */
    static final Duration[] APPLY_BUCKETS = decades(Duration.ofNanos(100_000), 15);
    static final Duration[] COMMIT_LAG_BUCKETS = decades(Duration.ofMillis(1), 15);

    CollectorMetrics(MeterRegistry registry, String vm) {
        apply = Timer.builder("cpstream.collector.apply")
                .description("Time to seal, apply and record one checkpoint")
                .tag("vm", vm).serviceLevelObjectives(APPLY_BUCKETS)
                .register(registry);
        commitLag = Timer.builder("cpstream.collector.commit.lag")
                .description("From the primary's stun to the commit of that epoch on the standby")
                .tag("vm", vm).serviceLevelObjectives(COMMIT_LAG_BUCKETS)
                .register(registry);
        epochsCommitted = counter(registry, "cpstream.collector.epochs.committed", "Epochs committed", vm);
        pagesReceived = counter(registry, "cpstream.collector.pages.received", "Page records received", vm);
        wireBytesReceived = counter(registry, "cpstream.collector.wire.bytes.received",
                "Bytes of page messages received (Begin, page batches, Commit: serialized, with gRPC's 5-byte prefix; "
                + "what the agent's cpstream.agent.wire.bytes counts)", vm);
        pagesPerEpoch = DistributionSummary.builder("cpstream.collector.epoch.pages")
                .description("Page records in each committed epoch").tag("vm", vm).register(registry);
        checksumMismatches = counter(registry, "cpstream.collector.checksum.mismatches",
                "Pages whose decoded content did not match their checksum", vm);
        for (PageEncoding encoding : PageEncoding.values()) {
            pagesDecoded.put(encoding, Counter.builder("cpstream.collector.pages.decoded")
                    .description("Page records decoded and verified, by encoding")
                    .tag("vm", vm).tag("encoding", encoding.name().toLowerCase(Locale.ROOT)).register(registry));
        }
        for (CorruptPageException.Reason reason : CorruptPageException.Reason.values()) {
            pagesRejected.put(reason, Counter.builder("cpstream.collector.pages.rejected")
                    .description("Page records refused and asked for whole (the checkpoint is dropped), by reason")
                    .tag("vm", vm).tag("reason", reason.name().toLowerCase(Locale.ROOT)).register(registry));
        }
        feedbackSent = counter(registry, "cpstream.collector.feedback.sent",
                "Feedback messages (delta candidate verdicts) sent to the agent", vm);
        digestMismatches = counter(registry, "cpstream.collector.digest.mismatches",
                "Committed images whose digest differed from the primary's", vm);
        digestsVerified = counter(registry, "cpstream.collector.digests.verified",
                "Committed images whose digest was checked against the primary's", vm);
        resyncsRequested = counter(registry, "cpstream.collector.resyncs", "Resync requests sent to the agent", vm);
        protocolErrors = counter(registry, "cpstream.collector.protocol.errors",
                "Streams closed for a malformed or unauthorised message", vm);
        promotions = counter(registry, "cpstream.collector.promotions", "Promotions of this VM's standby", vm);
        lockstepMismatches = counter(registry, "cpstream.collector.lockstep.mismatches",
                "Lockstep: outputs of the secondary that differed from the primary's (or inputs it could not take)", vm);
        lockstepResyncs = counter(registry, "cpstream.collector.lockstep.resyncs",
                "Lockstep: restarts of the secondary from a committed checkpoint", vm);
        lockstepVerifications = counter(registry, "cpstream.collector.lockstep.verifications",
                "Lockstep: checks that found the secondary's memory equal to the checkpoint replayed to its input", vm);
        lockstepDivergences = counter(registry, "cpstream.collector.lockstep.memory.divergences",
                "Lockstep: checks that found the secondary's memory different (it restarts from the next checkpoint)", vm);
    }

    /** The gauges that read the standby itself, registered once it is constructed. */
    void registerGauges(MeterRegistry registry, String vm, Standby standby) {
        gauge(registry, "cpstream.collector.committed.epoch", "Newest committed epoch", vm, standby,
                s -> s.committedEpoch());
        gauge(registry, "cpstream.collector.fencing.epoch", "Fencing epoch of the VM", vm, standby,
                s -> s.fencingEpoch());
        gauge(registry, "cpstream.collector.standby.age.seconds",
                "Now minus the primary's stun time of the committed epoch", vm, standby, s -> s.lagMillis() / 1000.0);
        gauge(registry, "cpstream.collector.connected", "1 while an agent streams this VM", vm, standby,
                s -> s.connected() ? 1 : 0);
        gauge(registry, "cpstream.collector.shared.pages",
                "Pages of this VM held once in the shared page store with other pages", vm, standby,
                s -> s.sharing().sharedPages());
        gauge(registry, "cpstream.collector.shared.saved.bytes",
                "This VM's share of the bytes the shared page store saves", vm, standby,
                s -> s.sharing().savedBytes());
        gauge(registry, "cpstream.collector.event.log.bytes",
                "Record/replay: bytes of the primary's inputs journaled since the committed checkpoint (at most 64 MiB)",
                vm, standby, s -> s.eventLogBytes());
    }

    void pageDecoded(PageEncoding encoding) {
        pagesDecoded.get(encoding).increment();
    }

    void pageRejected(CorruptPageException.Reason reason) {
        pagesRejected.get(reason).increment();
        if (reason == CorruptPageException.Reason.CHECKSUM_MISMATCH) {
            checksumMismatches.increment();
        }
    }

    private static Counter counter(MeterRegistry registry, String name, String description, String vm) {
        return Counter.builder(name).description(description).tag("vm", vm).register(registry);
    }

    private static void gauge(MeterRegistry registry, String name, String description, String vm, Standby standby,
                              ToDoubleFunction<Standby> value) {
        Gauge.builder(name, standby, value).description(description).tag("vm", vm).register(registry);
    }

    /** {@code count} bucket bounds from {@code first} on, at 1, 2.5 and 5 of each decade. */
    static Duration[] decades(Duration first, int count) {
        Duration[] bounds = new Duration[count];
        long decade = first.toNanos();
        for (int i = 0; i < count; i++) {
            long step = i % 3;
            bounds[i] = Duration.ofNanos(step == 0 ? decade : step == 1 ? decade * 5 / 2 : decade * 5);
            if (step == 2) {
                decade *= 10;
            }
        }
        return bounds;
    }
}
