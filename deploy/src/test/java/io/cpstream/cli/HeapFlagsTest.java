package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** deploy/bin/jdk.sh sizes the heap of long-running commands from CPSTREAM_HEAP, and names that variable when it is wrong. */
class HeapFlagsTest {

    private static final Path JDK_SH = InstallTest.REPO.resolve("deploy/bin/jdk.sh");

    @Test
    void aHeapSizeFromTheEnvironmentSizesTheCollector() throws Exception {
        Result result = heapFlags("collector", "2g");
        assertEquals(0, result.status(), result.output());
        assertTrue(result.output().contains("-Xms2g -XX:SoftMaxHeapSize=2g"), result.output());
    }

    @Test
    void aShortCommandKeepsTheJvmDefaults() throws Exception {
        Result result = heapFlags("status", "2g");
        assertEquals(0, result.status(), result.output());
        assertTrue(!result.output().contains("-Xms"), result.output());
    }

    @Test
    void aMalformedHeapSizeIsAUsageErrorNamingTheVariable() throws Exception {
        for (String bad : List.of("lots", "2 g", "0", "-1g", "2gb")) {
            Result result = heapFlags("agent", bad);
            assertEquals(2, result.status(), bad + ": " + result.output());
            assertTrue(result.output().contains("CPSTREAM_HEAP='" + bad + "' is not a heap size"), result.output());
        }
    }

    private record Result(int status, String output) {
    }

    /** Sources jdk.sh (which finds the JDK the build runs on) and prints the JVM flags it chose for {@code command}. */
    private static Result heapFlags(String command, String heap) throws Exception {
        ProcessBuilder builder = new ProcessBuilder("bash", "-c",
                "source \"$0\" && cpstream_heap_flags \"$1\" && echo \"${CPSTREAM_JVM_FLAGS[*]}\"", JDK_SH.toString(), command)
                .redirectErrorStream(true);
        Map<String, String> env = builder.environment();
        env.put("CPSTREAM_HEAP", heap);
        env.remove("CPSTREAM_JAVA_OPTS");
        env.put("JAVA_HOME", System.getProperty("java.home"));
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes());
        assertTrue(process.waitFor(Duration.ofSeconds(60).toSeconds(), TimeUnit.SECONDS), "jdk.sh finished");
        return new Result(process.exitValue(), output);
    }
}
