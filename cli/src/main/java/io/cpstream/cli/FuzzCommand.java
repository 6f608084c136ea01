package io.cpstream.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Runs the hostile-input fuzzers for a time each: the jqwik properties of the Maven profile {@code fuzz}
 * (fuzz/README.md), which bound every property by time and write what it ran to a report directory. The targets are
 * test classes, so this runs from a source checkout, through the project's own Maven wrapper.
 */
@Command(name = "fuzz", mixinStandardHelpOptions = true,
        description = {"Fuzz the inputs a peer or an operator controls (replication intake, journal recovery, page "
                + "decoder, trace reader, output sink protocol, config loader) for --seconds per property, from a source "
                + "checkout. Reports tries and the outcome of every property; a failure prints its seed and shrunk "
                + "sample, and jqwik replays it first on the next run.",
                "Targets: IntakeFuzzTest, JournalRecoveryFuzzTest, PageDecoderFuzzTest, TraceReaderFuzzTest, "
                        + "SinkProtocolFuzzTest, ConfigFuzzTest."})
final class FuzzCommand implements Callable<Integer> {

    /** Every fuzz target, as surefire's -Dtest names it, and the module whose tests hold it. */
    static final Map<String, String> TARGETS = targets();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--seconds", defaultValue = "60", description = "Seconds per property (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--target", split = ",", paramLabel = "TARGET",
            description = "Only these targets (default: all)")
    List<String> selected = new ArrayList<>();

    @Option(names = "--report", paramLabel = "DIR",
            description = "Where each property's report and the Maven log go; reports of an earlier run there are "
                    + "replaced (default: a new temporary directory)")
    Path report;

    @Option(names = "--json", description = "Print one JSON object")
    boolean json;

    /** One property's campaign, as the fuzz profile's hook wrote it. */
    record PropertyRun(String testClass, String property, long tries, long checks, double seconds, String status,
                       String seed, String failure, String sample) {

        boolean failed() {
            return !"SUCCESSFUL".equals(status);
        }

        Map<String, Object> toJson() {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("class", testClass);
            out.put("property", property);
            out.put("tries", tries);
            out.put("checks", checks);
            out.put("seconds", seconds);
            out.put("status", status);
            if (failed()) {
                out.put("seed", seed);
                out.put("failure", failure);
                out.put("sample", sample);
            }
            return out;
        }
    }

    @Override
    public Integer call() throws Exception {
        if (seconds <= 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--seconds must be positive, not " + seconds);
        }
        Set<String> targets = new LinkedHashSet<>(selected.isEmpty() ? TARGETS.keySet() : selected);
        for (String target : targets) {
            if (!TARGETS.containsKey(target)) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "unknown --target " + target + "; known: " + String.join(", ", TARGETS.keySet()));
            }
        }
        Path source = sourceCheckout();
        Path reportDir = report != null ? Files.createDirectories(report) : Files.createTempDirectory("cpstream-fuzz-");
        for (Path old : reportsIn(reportDir)) {
            Files.delete(old); // an earlier campaign's: only this run's may be counted
        }
        Path log = reportDir.resolve("maven.log");
        Set<String> modules = new LinkedHashSet<>();
        targets.forEach(target -> modules.add(TARGETS.get(target)));
        List<String> command = List.of(source.resolve("mvnw").toString(), "-B", "-ntp", "-Pfuzz",
                "-pl", String.join(",", modules), "-am", "test",
                "-Dtest=" + String.join(",", targets), "-Dsurefire.failIfNoSpecifiedTests=false",
                "-Djqwik.tries.default=2147483647", "-Dcpstream.fuzz.seconds=" + seconds,
                "-Dcpstream.fuzz.report=" + reportDir.toAbsolutePath());
        if (!json) {
            System.out.printf("cpstream fuzz: %s, %d s per property; Maven's output goes to %s%n",
                    String.join(", ", targets), seconds, log);
        }
        int mavenExit = new ProcessBuilder(command).directory(source.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start().waitFor();
        List<PropertyRun> runs = readReports(reportDir);
        long failed = runs.stream().filter(PropertyRun::failed).count();
        if (json) {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("targets", List.copyOf(targets));
            result.put("seconds_per_property", seconds);
            result.put("properties_run", runs.size());
            result.put("properties_failed", failed);
            result.put("tries", runs.stream().mapToLong(PropertyRun::tries).sum());
            result.put("properties", runs.stream().map(PropertyRun::toJson).toList());
            result.put("maven_exit", mavenExit);
            result.put("report_dir", reportDir.toAbsolutePath().toString());
            result.put("ok", mavenExit == 0 && failed == 0 && !runs.isEmpty());
            Json.print(System.out, result);
        } else {
            for (PropertyRun run : runs) {
                System.out.printf("%s#%s: %,d tries in %.1f s, %s%s%n", simpleName(run.testClass()), run.property(),
                        run.tries(), run.seconds(), run.status(),
                        run.failed() ? " (seed " + run.seed() + "): " + run.failure() + "; sample " + run.sample() : "");
            }
        }
        if (runs.isEmpty()) {
            System.err.println("cpstream fuzz: no property ran (Maven exited " + mavenExit + "); see " + log);
            return 1;
        }
        if (failed > 0 || mavenExit != 0) {
            System.err.printf("cpstream fuzz: %d of %d properties failed%s; reports and Maven's log in %s%n", failed,
                    runs.size(), mavenExit != 0 && failed == 0 ? " (and Maven exited " + mavenExit + ")" : "", reportDir);
            return 1;
        }
        return 0;
    }

    /** The checkout the launcher ran from ({@code -Dcpstream.source}); the fuzz targets are its test sources. */
    private static Path sourceCheckout() {
        String property = System.getProperty("cpstream.source");
        Path source = property == null ? null : Path.of(property);
        if (source == null || !Files.isExecutable(source.resolve("mvnw"))
                || !Files.isDirectory(source.resolve("fuzz/java"))) {
            throw new Errors.UserError("the fuzzers are test sources: run ./cpstream fuzz from a checkout of the "
                    + "repository (the installed distribution has none)");
        }
        return source;
    }

    /** Every report the fuzz hook wrote to {@code dir}, in name order. */
    static List<PropertyRun> readReports(Path dir) throws IOException {
        return reportsIn(dir).stream().map(FuzzCommand::readReport).toList();
    }

    /** The report files in {@code dir} ({@code <class>#<method>.properties}), in name order. */
    private static List<Path> reportsIn(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(file -> file.getFileName().toString().endsWith(".properties")).sorted().toList();
        }
    }

    private static PropertyRun readReport(Path file) {
        Properties report = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            report.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the fuzz report " + file, e);
        }
        return new PropertyRun(report.getProperty("class", "?"), report.getProperty("property", "?"),
                Long.parseLong(report.getProperty("tries", "0")), Long.parseLong(report.getProperty("checks", "0")),
                Double.parseDouble(report.getProperty("seconds", "0")), report.getProperty("status", "UNKNOWN"),
                report.getProperty("seed"), report.getProperty("failure"), report.getProperty("sample"));
    }

    private static String simpleName(String className) {
        return className.substring(className.lastIndexOf('.') + 1);
    }

    private static Map<String, String> targets() {
        Map<String, String> targets = new LinkedHashMap<>();
        targets.put("IntakeFuzzTest", "collector-server");
        targets.put("JournalRecoveryFuzzTest", "collector-server");
        targets.put("PageDecoderFuzzTest", "diff-encoder");
        targets.put("TraceReaderFuzzTest", "dirty-tracker");
        targets.put("SinkProtocolFuzzTest", "checkpoint-agent");
        targets.put("ConfigFuzzTest", "cli");
        return java.util.Collections.unmodifiableMap(targets);
    }
}
