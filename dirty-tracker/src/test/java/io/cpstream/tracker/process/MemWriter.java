package io.cpstream.tracker.process;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The {@code memwriter} helper process (src/test/c): a real process whose memory the test changes on
 * command. Compiled once per test run with {@code cc}; tests skip, saying why, without a compiler.
 */
final class MemWriter implements AutoCloseable {

    private static Path binary;

    private final Process process;
    private final BufferedReader answers;
    private final PrintWriter commands;
    private final int pid;

    private MemWriter(Process process) throws IOException {
        this.process = process;
        this.answers = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.US_ASCII));
        this.commands = new PrintWriter(process.getOutputStream(), true, StandardCharsets.US_ASCII);
        String ready = answers.readLine();
        if (ready == null || !ready.startsWith("ready ")) {
            throw new IOException("memwriter did not start: " + ready);
        }
        this.pid = Integer.parseInt(ready.substring(6).trim());
    }

    static MemWriter start() throws IOException, InterruptedException {
        return new MemWriter(new ProcessBuilder(binary().toString()).redirectError(ProcessBuilder.Redirect.INHERIT).start());
    }

    int pid() {
        return pid;
    }

    /** Maps a new region of {@code pages} pages; returns its index and address. */
    long[] map(int pages) throws IOException {
        String[] answer = send("map " + pages);
        return new long[] {Long.parseLong(answer[1]), Long.parseUnsignedLong(answer[2], 16)};
    }

    void fill(long region, int page, int value) throws IOException {
        send("fill " + region + " " + page + " " + value);
    }

    void fillAll(long region, int value) throws IOException {
        send("fillall " + region + " " + value);
    }

    /** Resizes a region; returns its (possibly new) address. */
    long grow(long region, int pages) throws IOException {
        return Long.parseUnsignedLong(send("grow " + region + " " + pages)[1], 16);
    }

    void unmap(long region) throws IOException {
        send("unmap " + region);
    }

    void spin(long region) throws IOException {
        send("spin " + region);
    }

    private String[] send(String command) throws IOException {
        commands.println(command);
        String answer = answers.readLine();
        if (answer == null || !answer.startsWith("ok")) {
            throw new IOException("memwriter: '" + command + "' answered " + answer);
        }
        return answer.split(" ");
    }

    @Override
    public void close() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    private static synchronized Path binary() throws IOException, InterruptedException {
        if (binary == null) {
            Path source = Path.of("src/test/c/memwriter.c").toAbsolutePath();
            Path out = Files.createTempDirectory("memwriter-").resolve("memwriter");
            Process cc;
            try {
                cc = new ProcessBuilder("cc", "-O2", "-pthread", "-o", out.toString(), source.toString())
                        .redirectErrorStream(true).start();
            } catch (IOException e) {
                assumeTrue(false, "skipped: no C compiler (cc) to build the memwriter helper: " + e.getMessage());
                throw e;
            }
            String log = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (cc.waitFor() != 0) {
                throw new IOException("cc failed on " + source + ":\n" + log);
            }
            out.toFile().deleteOnExit();
            binary = out;
        }
        return binary;
    }
}
