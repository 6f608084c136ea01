package io.cpstream.cli;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/install.sh lays the distribution out under standard paths; systemd-analyze accepts the
 * installed units; the installed launcher runs the collector from the installed example config and
 * tells "systemd" READY=1 and STOPPING=1 over $NOTIFY_SOCKET; a bad key stops it with exit 2.
 */
class InstallTest {

    static final Path REPO = Path.of(System.getProperty("user.dir")).getParent();

    @TempDir
    Path dir;

    @Test
    void installLaysOutTheDistributionAndTheUnitsVerify() throws Exception {
        Path root = install();
        for (String path : List.of("opt/cpstream/bin/cpstream", "opt/cpstream/bin/jdk.sh", "etc/cpstream/collector.yaml",
                "etc/cpstream/agent.yaml.example", "etc/cpstream/cpstream.env",
                "etc/systemd/system/cpstream-collector.service", "etc/systemd/system/cpstream-agent@.service",
                "usr/share/cpstream/grafana/dashboards/cpstream-fleet.json",
                "usr/share/cpstream/grafana/dashboards/cpstream-vm.json",
                "usr/share/cpstream/grafana/provisioning/datasources/cpstream.yaml",
                "usr/share/cpstream/grafana/provisioning/dashboards/cpstream.yaml",
                "usr/share/cpstream/prometheus/prometheus.yml", "usr/share/doc/cpstream/README.md", "var/lib/cpstream")) {
            assertTrue(Files.exists(root.resolve(path)), "installed " + path);
        }
        assertTrue(Files.isExecutable(root.resolve("opt/cpstream/bin/cpstream")));

        Path analyze = TestDaemons.tool("systemd-analyze");
        assumeTrue(analyze != null, "systemd-analyze is not installed (Debian package systemd; ./test installs it)");
        // systemd-analyze checks that ExecStart exists, on this host's root: point the units at the staged
        // launcher; everything else is verified exactly as installed.
        Path units = Files.createDirectories(dir.resolve("units"));
        Path collector = units.resolve("cpstream-collector.service");
        Path agent = units.resolve("cpstream-agent@web-1.service");
        String staged = root.resolve("opt/cpstream").toString() + "/";
        Files.writeString(collector, Files.readString(root.resolve("etc/systemd/system/cpstream-collector.service"))
                .replace("/opt/cpstream/", staged));
        Files.writeString(agent, Files.readString(root.resolve("etc/systemd/system/cpstream-agent@.service"))
                .replace("/opt/cpstream/", staged));
        TestDaemons.Http verify = TestDaemons.run(List.of(analyze.toString(), "verify", collector.toString(),
                agent.toString()), null, Duration.ofSeconds(120));
        assertEquals(0, verify.status(), verify.body());
        // verify exits 0 on unknown keys and bad values too; it must not warn about our units at all.
        List<String> warnings = verify.body().lines().filter(line -> line.contains("cpstream")).toList();
        assertEquals(List.of(), warnings, "systemd-analyze has no complaints about the units");
    }

    @Test
    void stopTimeoutCoversTheDrainWindow() throws Exception {
        long timeoutStop = unitSeconds("cpstream-collector.service", "TimeoutStopSec");
        Matcher drain = Pattern.compile("(?m)^drain-seconds: (\\d+)").matcher(
                Files.readString(REPO.resolve("deploy/config/collector.yaml")));
        assertTrue(drain.find());
        // Drain, then up to 5 s for cut streams to end (CollectorServer.close), with room to spare.
        assertTrue(timeoutStop > Long.parseLong(drain.group(1)) + 5, "TimeoutStopSec " + timeoutStop);
        assertTrue(unitSeconds("cpstream-agent@.service", "TimeoutStopSec") >= 15);
    }

    @Test
    void installedCollectorStartsFromItsConfigAndSpeaksSdNotify() throws Throwable {
        Path root = install();
        Path config = root.resolve("etc/cpstream/collector.yaml");
        // The shipped file, pointed at places this test may use, with certificates issued the way the README says.
        Path pki = dir.resolve("pki");
        io.cpstream.security.Pki.init(pki, java.time.Duration.ofDays(1));
        io.cpstream.security.Pki.issue(pki, "collector", io.cpstream.security.Role.COLLECTOR, List.of(),
                java.time.Duration.ofDays(1));
        Files.writeString(config, Files.readString(config)
                .replace("listen: 127.0.0.1:7700", "listen: 127.0.0.1:0")
                .replace("/etc/cpstream/pki/", pki + "/")
                .replace("data-dir: /var/lib/cpstream", "data-dir: " + dir.resolve("state"))
                .replace("metrics-port: 9465", "metrics-port: 0"));
        try (NotifyReceiver systemd = NotifyReceiver.at(dir.resolve("notify"));
             TestDaemons daemons = new TestDaemons(dir)) {
            ProcessBuilder builder = new ProcessBuilder(root.resolve("opt/cpstream/bin/cpstream").toString(), "collector",
                    "--config", config.toString());
            builder.environment().put("NOTIFY_SOCKET", systemd.name());
            Process process = daemons.start("installed-collector", builder);
            String ready = await("READY=1: " + daemons.logText("installed-collector")).atMost(Duration.ofSeconds(120))
                    .pollInterval(Duration.ofMillis(200)).until(systemd::poll, message -> message != null);
            assertTrue(ready.startsWith("READY=1\n"), ready);
            assertTrue(ready.contains("MAINPID=" + process.pid()), "the launcher execs the JVM: " + ready);
            assertTrue(ready.contains("STATUS=listening on 127.0.0.1:"), ready);

            process.destroy(); // SIGTERM, as systemctl stop sends
            assertTrue(process.waitFor(60, TimeUnit.SECONDS), "stops within the drain window");
            String stopping = systemd.poll();
            assertTrue(stopping != null && stopping.startsWith("STOPPING=1"), String.valueOf(stopping));
            assertTrue(List.of(0, 143).contains(process.exitValue()), "exit " + process.exitValue());
        }

        // A wrong key in the same file stops it before it starts, naming the key.
        Files.writeString(config, Files.readString(config) + "\nmax_guest_bytes: 1\n");
        TestDaemons.Http bad = TestDaemons.run(List.of(root.resolve("opt/cpstream/bin/cpstream").toString(), "collector",
                "--config", config.toString()), null, Duration.ofSeconds(120));
        assertEquals(2, bad.status(), bad.body());
        assertTrue(bad.body().contains("key 'max_guest_bytes': unknown key"), bad.body());
    }

    /** Runs install.sh into a staging root with jars made from this test's classpath. */
    private Path install() throws Exception {
        Path lib = Files.createDirectories(dir.resolve("lib"));
        int n = 0;
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            Path path = Path.of(entry);
            if (Files.isDirectory(path)) {
                jar(path, lib.resolve("classes-" + n++ + ".jar"));
            } else if (entry.endsWith(".jar")) {
                Files.copy(path, lib.resolve(n++ + "-" + path.getFileName()));
            }
        }
        Path root = dir.resolve("root");
        TestDaemons.Http install = TestDaemons.run(List.of("bash", REPO.resolve("deploy/install.sh").toString(),
                "--destdir", root.toString(), "--from", lib.toString()), null, Duration.ofSeconds(120));
        assertEquals(0, install.status(), install.body());
        return root;
    }

    private static void jar(Path classes, Path jar) throws IOException {
        try (OutputStream file = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(file);
             Stream<Path> walk = Files.walk(classes)) {
            for (Path path : walk.filter(Files::isRegularFile).toList()) {
                out.putNextEntry(new JarEntry(classes.relativize(path).toString().replace('\\', '/')));
                Files.copy(path, out);
                out.closeEntry();
            }
        }
    }

    private static long unitSeconds(String unit, String key) throws IOException {
        Matcher matcher = Pattern.compile("(?m)^" + key + "=(\\d+)$").matcher(
                Files.readString(REPO.resolve("deploy/systemd").resolve(unit)));
        assertTrue(matcher.find(), key + " in " + unit);
        return Long.parseLong(matcher.group(1));
    }

}
