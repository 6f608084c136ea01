package io.cpstream.cli;

import io.cpstream.agent.output.OutputReceiver;
import io.cpstream.config.HostPort;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "sink", mixinStandardHelpOptions = true,
        description = "Receive released guest output (agent --output-sink tcp://HOST:PORT) into a file, in order and fenced.")
final class SinkCommand implements Callable<Integer> {

    @Option(names = "--listen", defaultValue = "127.0.0.1:7800", description = "HOST:PORT to accept primaries on (default: ${DEFAULT-VALUE})")
    String listen;

    @Option(names = "--out", required = true, description = "File the output of every VM is appended to")
    Path out;

    @picocli.CommandLine.Mixin
    TlsOptions tls;

    @Option(names = "--json", description = "Print one JSON object when the sink stops")
    boolean json;

    @Override
    public Integer call() throws Exception {
        HostPort address = HostPort.parse(listen, "--listen");
        CountDownLatch stopped = new CountDownLatch(1);
        try (OutputReceiver receiver = new OutputReceiver(address.host(), address.port(), out, tls.settings())) {
            Runtime.getRuntime().addShutdownHook(new Thread(stopped::countDown, "sink-shutdown"));
            System.out.printf("cpstream sink listening on %s:%d, output in %s%n", address.host(), receiver.port(),
                    out.toAbsolutePath());
            stopped.await();
            if (json) {
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("stopped", true);
                result.put("duplicate_attempts", receiver.duplicateAttempts());
                result.put("gap_attempts", receiver.gapAttempts());
                result.put("fenced_attempts", receiver.fencedAttempts());
                result.put("denied_requests", receiver.deniedRequests());
                Json.print(System.out, result);
            }
        }
        return 0;
    }
}
