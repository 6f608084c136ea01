package io.cpstream.cli;

import io.cpstream.security.PkiException;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.cpstream.security.TlsSettings;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;

/** Real processes for tests: daemons from this module's classpath, external tools, HTTP. */
public final class TestDaemons implements AutoCloseable {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private final Path logs;
    private final List<Process> processes = new ArrayList<>();

    public TestDaemons(Path logs) {
        this.logs = logs;
    }

    /** {@code cpstream ARGS...} in a JVM of its own, output to {@code <logs>/<name>.log}. */
    public Process cpstream(String name, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                Main.class.getName()));
        command.addAll(List.of(args));
        return start(name, new ProcessBuilder(command));
    }

    public Process start(String name, ProcessBuilder builder) throws IOException {
        Process process = builder.redirectErrorStream(true).redirectOutput(log(name).toFile()).start();
        processes.add(process);
        return process;
    }

    public Path log(String name) {
        return logs.resolve(name + ".log");
    }

    public String logText(String name) {
        try {
            return Files.readString(log(name));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** Absolute path of {@code tool} on PATH, or null. */
    public static Path tool(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path candidate = Path.of(dir, tool);
            if (Files.isExecutable(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    public record Http(int status, String body) {
    }

    /** GET; status -1 when nothing answers. */
    public static Http get(String url) {
        return get(HTTP, url);
    }

    /**
     * GET {@code https://...} as {@code identity} (a reader or admin certificate: how the daemons' /metrics and
     * /health are read when they run TLS); status -1 when nothing answers or the handshake fails. A client of its own
     * per call, so each call makes a fresh handshake with the files as they are now.
     */
    public static Http get(String url, TlsSettings identity) {
        if (identity.insecure()) {
            return get(url);
        }
        SSLContext context;
        try {
            context = Tls.sockets(TlsMaterial.load(identity, null));
        } catch (PkiException e) {
            return new Http(-1, e.toString());
        }
        try (HttpClient client = HttpClient.newBuilder().sslContext(context).connectTimeout(Duration.ofSeconds(5))
                .build()) {
            return get(client, url);
        }
    }

    private static Http get(HttpClient client, String url) {
        try {
            HttpResponse<String> response = client.send(HttpRequest.newBuilder(URI.create(url))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
            return new Http(response.statusCode(), response.body());
        } catch (IOException e) {
            return new Http(-1, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Http(-1, e.toString());
        }
    }

    public static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** Runs {@code command} to completion with {@code stdin}; returns exit code and combined output. */
    public static Http run(List<String> command, String stdin, Duration timeout) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        try (var in = process.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
        }
        byte[] output = process.getInputStream().readAllBytes();
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException(command + " did not finish within " + timeout);
        }
        return new Http(process.exitValue(), new String(output, java.nio.charset.StandardCharsets.UTF_8));
    }

    /** SIGTERM, then SIGKILL for whatever has not stopped within 20 s. */
    @Override
    public void close() throws InterruptedException {
        processes.forEach(Process::destroy);
        for (Process process : processes) {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }
}
