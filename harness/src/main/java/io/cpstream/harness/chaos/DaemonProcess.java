package io.cpstream.harness.chaos;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A cpstream daemon ({@code collector}, {@code agent}) in a JVM of its own, started from this JVM's
 * class path, so that it can be killed with SIGKILL like a crashing host would kill it.
 */
public final class DaemonProcess implements AutoCloseable {

    /** The prefix of the system properties that configure gRPC's shaded Netty. */
    private static final String NETTY_PROPERTY = "-Dio.grpc.netty.shaded.io.netty.";

    private final Process process;
    private final Path log;

    /** Every daemon started and not closed: destroyed if this JVM is stopped, so none outlives the harness. */
    private static final java.util.Set<Process> LIVE = java.util.concurrent.ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly),
                "daemon-process-reaper"));
    }

    private DaemonProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** Starts {@code cpstream <args>} with its output in {@code log}. */
    public static DaemonProcess start(Path log, List<String> args) throws IOException {
        return start(log, "io.cpstream.cli.Main", args);
    }

    /**
     * Starts the Java program {@code mainClass} of this class path with {@code args}, its output in {@code log}, in a
     * small JVM: many daemons share the machine in a chaos run, and none of them is being measured.
     */
    public static DaemonProcess start(Path log, String mainClass, List<String> args) throws IOException {
        return start(log, List.of("--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx256m",
                "-XX:TieredStopAtLevel=1"), mainClass, args);
    }

    /**
     * The launcher's JVM flags as this JVM got them ({@code ./cpstream} gives every command the deployed collector,
     * compiler and native-access flags), without its heap, direct-memory and recording sizes: a daemon started with
     * these runs as an operator's would, and the caller adds the heap it is meant to have. The transport's settings
     * ({@code -Dio.grpc.netty.shaded.io.netty.*}, such as the leak detector the launcher turns off) go along: without
     * them a measured daemon would sample its buffers for leaks, which the deployed one does not.
     */
    public static List<String> launcherFlags() {
        return java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(flag -> (flag.startsWith("-XX:") && !flag.contains("FlightRecording")
                        && !flag.startsWith("-XX:MaxDirectMemorySize") && !flag.startsWith("-XX:SoftMaxHeapSize"))
                        || flag.startsWith("--enable-native-access") || flag.startsWith(NETTY_PROPERTY))
                .collect(java.util.stream.Collectors.toCollection(ArrayList::new));
    }

    /**
     * The JVM flags {@code ./cpstream} gives a daemon with a heap of {@code heap} ({@code 256m}, {@code 1g}): the
     * launcher's flags, the heap faulted in at start and kept. For the daemons whose speed a figure depends on.
     */
    public static List<String> deployedFlags(String heap) {
        List<String> flags = launcherFlags();
        for (String flag : List.of("-Xms" + heap, "-XX:SoftMaxHeapSize=" + heap, "-XX:+AlwaysPreTouch",
                "-XX:-ZUncommit", "-XX:-ZProactive")) {
            if (!flags.contains(flag)) {
                flags.add(flag);
            }
        }
        return flags;
    }

    /** As {@link #start(Path, String, List)}, with the JVM flags given (a daemon being measured runs as deployed). */
    public static DaemonProcess start(Path log, List<String> jvmFlags, String mainClass, List<String> args)
            throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmFlags);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        command.addAll(args);
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        LIVE.add(process);
        return new DaemonProcess(process, log);
    }

    /** SIGKILL: no shutdown hook, no flush, no goodbye. */
    public void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
        LIVE.remove(process);
    }

    /** Waits up to {@code timeout} for the process to end by itself; true if it did. */
    public boolean awaitExit(java.time.Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    public boolean alive() {
        return process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    public Path log() {
        return log;
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            kill9();
        }
    }
}
