package io.cpstream.agent;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/** Meters of output commit and the lease, named {@code cpstream_agent_output_*} and {@code cpstream_agent_lease_*}. */
final class OutputMetrics {

    private OutputMetrics() {
    }

    static void register(MeterRegistry registry, String vm, OutputGate outputs, PrimaryLease lease) {
        Gauge.builder("cpstream.agent.output.pending", outputs, OutputGate::pendingBytes).baseUnit("bytes")
                .description("Guest output held until its checkpoint is committed and the lease allows release")
                .tag("vm", vm).register(registry);
        FunctionCounter.builder("cpstream.agent.output.released", outputs, OutputGate::releasedRecords)
                .description("Output records released to the sink").tag("vm", vm).register(registry);
        Gauge.builder("cpstream.agent.lease.held", lease, l -> l.holds() ? 1 : 0)
                .description("1 while the collector's last grant lets this agent act as the primary")
                .tag("vm", vm).register(registry);
        Gauge.builder("cpstream.agent.fencing.epoch", outputs, OutputGate::fencingEpoch)
                .description("The fencing epoch this primary presents (raised when it goes on alone)")
                .tag("vm", vm).register(registry);
    }
}
