package io.cpstream.e2e;

import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;

/** A collector in its own JVM, so a test can kill it with SIGKILL. Args: port data-dir. */
public final class CollectorProcess {

    private CollectorProcess() {
    }

    public static void main(String[] args) throws Exception {
        CollectorServer server = CollectorServer.start(
                CollectorConfig.of("127.0.0.1", Integer.parseInt(args[0]), Path.of(args[1])), new SimpleMeterRegistry());
        System.out.println("listening " + server.port());
        server.awaitTermination();
    }

    /** Starts one and waits until it listens. */
    static Process start(int port, Path dataDir) throws Exception {
        Process process = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                CollectorProcess.class.getName(), Integer.toString(port), dataDir.toString())
                .redirectErrorStream(true)
                .start();
        var reader = new java.io.BufferedReader(new java.io.InputStreamReader(process.getInputStream()));
        String line;
        while ((line = reader.readLine()) != null) {
            if (line.startsWith("listening ")) {
                // Keep draining its output so it never blocks on a full pipe.
                Thread.ofPlatform().daemon().start(() -> reader.lines().forEach(l -> { }));
                return process;
            }
        }
        throw new IllegalStateException("collector process exited before listening: " + process.waitFor());
    }
}
