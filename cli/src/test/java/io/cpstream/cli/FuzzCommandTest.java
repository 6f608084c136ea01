package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cpstream fuzz}: its usage errors, its refusal outside a checkout, and its reading of the reports the fuzz
 * profile's hook writes. (A real campaign runs Maven on the checkout; fuzz/README.md has the figures.)
 */
class FuzzCommandTest {

    @TempDir
    Path dir;

    @Test
    void anUnknownTargetIsAUsageErrorListingTheKnownOnes() {
        CliRun run = CliRun.of("fuzz", "--target", "PageDecoderFuzzTest,NoSuchFuzzTest");
        assertEquals(2, run.code(), run.err());
        assertTrue(run.err().contains("unknown --target NoSuchFuzzTest"), run.err());
        for (String known : FuzzCommand.TARGETS.keySet()) {
            assertTrue(run.err().contains(known), run.err());
        }
    }

    @Test
    void aBudgetOfNoTimeIsAUsageError() {
        CliRun run = CliRun.of("fuzz", "--seconds", "0");
        assertEquals(2, run.code(), run.err());
        assertTrue(run.err().contains("--seconds must be positive"), run.err());
    }

    @Test
    void withoutACheckoutItSaysWhereToRunFrom() {
        String before = System.getProperty("cpstream.source");
        System.setProperty("cpstream.source", dir.toString()); // a directory with no mvnw and no fuzz sources
        try {
            CliRun run = CliRun.of("fuzz", "--seconds", "1", "--json");
            assertEquals(1, run.code(), run.err());
            assertTrue(run.err().contains("run ./cpstream fuzz from a checkout"), run.err());
        } finally {
            if (before == null) {
                System.clearProperty("cpstream.source");
            } else {
                System.setProperty("cpstream.source", before);
            }
        }
    }

    @Test
    void readsWhatTheHookWroteForEveryProperty() throws Exception {
        report("io.cpstream.encoder.PageDecoderFuzzTest#a.properties", "io.cpstream.encoder.PageDecoderFuzzTest",
                "mutatedValidRecordsAreRefusedOrTheOriginalPage", "2265", "3.0", "SUCCESSFUL", null);
        report("io.cpstream.collector.IntakeFuzzTest#b.properties", "io.cpstream.collector.IntakeFuzzTest",
                "hostileBatchesLeaveTheStandbyUntouched", "17", "0.4", "FAILED", "boom");
        Files.writeString(dir.resolve("maven.log"), "not a report");

        List<FuzzCommand.PropertyRun> runs = FuzzCommand.readReports(dir);

        assertEquals(2, runs.size());
        FuzzCommand.PropertyRun failed = runs.get(0);
        assertEquals("hostileBatchesLeaveTheStandbyUntouched", failed.property());
        assertTrue(failed.failed());
        assertEquals("boom", failed.failure());
        assertEquals("42", failed.seed());
        FuzzCommand.PropertyRun passed = runs.get(1);
        assertEquals(2265, passed.tries());
        assertEquals(3.0, passed.seconds());
        assertFalse(passed.failed());
        assertNull(passed.toJson().get("seed"), "a success carries no seed");
    }

    private void report(String file, String testClass, String property, String tries, String seconds, String status,
                        String failure) throws Exception {
        Properties out = new Properties();
        out.setProperty("class", testClass);
        out.setProperty("property", property);
        out.setProperty("tries", tries);
        out.setProperty("checks", tries);
        out.setProperty("seconds", seconds);
        out.setProperty("status", status);
        if (failure != null) {
            out.setProperty("seed", "42");
            out.setProperty("failure", failure);
            out.setProperty("sample", "[1, 2]");
        }
        try (OutputStream stream = Files.newOutputStream(dir.resolve(file))) {
            out.store(stream, "test");
        }
    }
}
