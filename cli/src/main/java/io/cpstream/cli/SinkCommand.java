package io.cpstream.cli;

import io.cpstream.agent.output.OutputReceiver;
import io.cpstream.config.HostPort;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "sink", mixinStandardHelpOptions = true,
        description = "Receive released guest output (agent --output-sink tcp://HOST:PORT) into a file, in order and fenced.")
final class SinkCommand implements Callable<Integer> {

    @Option(names = "--listen", defaultValue = "127.0.0.1:7800", description = "HOST:PORT to accept primaries on (default: ${DEFAULT-VALUE})")
    String listen;

    @Option(names = "--out", required = true, description = "File the output of every VM is appended to")
    Path out;

    // Defaults from OutputReceiver.Limits.DEFAULT, the one place they are set; picocli shows a field's initial value.
    @Option(names = "--max-clients", paramLabel = "N",
            description = "Connections served at once; one more is closed as it is accepted (default: ${DEFAULT-VALUE})")
    int maxClients = OutputReceiver.Limits.DEFAULT.maxClients();

    @Option(names = "--idle-timeout-ms", paramLabel = "MS",
            description = "A connection without a request for this long is closed, freeing its slot; a primary "
                    + "connects again when it has output (default: ${DEFAULT-VALUE})")
    long idleTimeoutMillis = OutputReceiver.Limits.DEFAULT.idleTimeout().toMillis();

    @Option(names = "--request-timeout-ms", paramLabel = "MS",
            description = "A write's records must arrive within this long, plus a second per 64 KiB received; a "
                    + "peer that trickles them, or does not take its answer in time, is closed and none is taken "
                    + "(default: ${DEFAULT-VALUE})")
    long requestTimeoutMillis = OutputReceiver.Limits.DEFAULT.requestTimeout().toMillis();

    @Option(names = "--authority", paramLabel = "zk:CONNECT|HOST:PORT[,HOST:PORT...]",
            description = "Who holds the VMs' fencing epochs: ZooKeeper (zk:zk1:2181,...) or the collectors that "
                    + "protect them (their admin address; the sink's certificate has the sink role, which may ask only "
                    + "for fencing epochs). A primary must present the epoch the authority holds: lower is fenced, "
                    + "higher is denied. Without it the sink trusts the epochs primaries present")
    String authority;

    @picocli.CommandLine.Mixin
    TlsOptions tls;

    @Option(names = "--json", description = "Print one JSON object when the sink stops")
    boolean json;

    @Override
    public Integer call() throws Exception {
        HostPort address = HostPort.parse(listen, "--listen");
        if (maxClients < 1 || idleTimeoutMillis < 1 || requestTimeoutMillis < 1) {
            throw new Errors.UserError("--max-clients, --idle-timeout-ms and --request-timeout-ms must be at least 1");
        }
        OutputReceiver.Limits limits = new OutputReceiver.Limits(maxClients, Duration.ofMillis(idleTimeoutMillis),
                Duration.ofMillis(requestTimeoutMillis));
        CountDownLatch stopped = new CountDownLatch(1);
        CountDownLatch finished = new CountDownLatch(1);
        try (SinkAuthority fencing = authority == null ? null : SinkAuthority.open(authority, tls.settings());
             OutputReceiver receiver = new OutputReceiver(address.host(), address.port(), out, tls.settings(),
                limits, fencing)) {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                stopped.countDown();
                // The JVM halts once its hooks return: without this wait the --json report (and the log's close)
                // raced the exit and was mostly lost.
                try {
                    finished.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "sink-shutdown"));
            System.out.printf("cpstream sink listening on %s:%d, output in %s, fencing epochs %s%n", address.host(),
                    receiver.port(), out.toAbsolutePath(), fencing == null
                            ? "as primaries present them (no --authority)" : "from " + fencing);
            stopped.await();
            if (json) {
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("stopped", true);
                result.put("duplicate_attempts", receiver.duplicateAttempts());
                result.put("gap_attempts", receiver.gapAttempts());
                result.put("fenced_attempts", receiver.fencedAttempts());
                result.put("denied_requests", receiver.deniedRequests());
                result.put("ungranted_epochs", receiver.ungrantedEpochs());
                result.put("authority_unavailable", receiver.authorityUnavailable());
                result.put("idle_closed", receiver.idleClosed());
                result.put("request_timeouts", receiver.requestTimeouts());
                Json.print(System.out, result);
                System.out.flush();
            }
        } finally {
            finished.countDown();
        }
        return 0;
    }
}
