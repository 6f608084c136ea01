package io.cpstream.harness;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.AgentConfig;
import io.cpstream.agent.ProtectionMode;
import io.cpstream.agent.output.OutputLog;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.snapshot.DurableFiles;
import io.cpstream.snapshot.PromotedSnapshot;
import io.cpstream.tracker.kvm.KvmSource;
import io.cpstream.tracker.replay.EventLog;
import io.cpstream.tracker.replay.InputEvents;
import io.cpstream.tracker.replay.JournalFile;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The record/replay chaos check can fail: a primary under replay protection with a kv client runs, keeping a copy of
 * its inputs, and is promoted; the true copy passes, and a copy with one input changed, a copy cut short, and a
 * released output the promoted VM does not emit are each found.
 */
class ReplayFinaleTest {

    private static final Duration PATIENCE = Duration.ofSeconds(120);

    @TempDir
    static Path work;
    private static ChaosProtection protection;
    private static PromoteResponse promoted;
    private static List<OutputLog.Record> released;
    private static byte[] trueCopy;

    @BeforeAll
    static void runAndPromoteAPrimaryUnderReplay() throws Exception {
        Optional<String> reason = KvmSource.emuUnavailableReason();
        reason.ifPresent(r -> System.out.println("skipping: " + r));
        Assumptions.assumeTrue(reason.isEmpty());
        protection = ChaosProtection.of("emu:guest=kv,mem=8m", ProtectionMode.REPLAY);
        Path sink = work.resolve("released.log");
        AgentConfig config = AgentConfig.of("unused", ChaosFinale.VM).withEpochInterval(Duration.ofMillis(300))
                .withOutputSink("file:" + sink);
        try (LocalReplication primary = new LocalReplication(protection.source(), work.resolve("collector"), config)) {
            primary.agent.protectByReplay(ChaosProtection.inputCopy(work));
            primary.start();
            primary.awaitFirstCommit(PATIENCE);
            // Past a few checkpoints, with answers released between them.
            await().atMost(PATIENCE).until(() -> primary.agent.acknowledgedEpoch() >= 4
                    && primary.agent.outputReleasedEnd() > 50);
            primary.stopPrimary();
            try (AdminClient admin = new AdminClient("127.0.0.1:" + primary.collector.port())) {
                promoted = admin.promote(ChaosFinale.VM, true);
            }
        }
        released = OutputLog.read(work.resolve("released.log"), ChaosFinale.VM);
        trueCopy = Files.readAllBytes(ChaosProtection.inputCopy(work));
    }

    @Test
    void thePrimarysOwnCopyOfItsInputsAgreesWithThePromotedVm() throws Exception {
        List<String> violations = new ArrayList<>();
        ReplayFinale.Replayed replayed = check(trueCopy, released, violations);
        assertEquals(List.of(), violations);
        assertFalse(replayed.digestMismatch());
        assertEquals(0, replayed.notReproduced());
        assertTrue(replayed.outputEnd() >= promoted.getOutputEnd(), replayed.toString());
        assertTrue(replayed.lastRequestId() >= 0, "the log holds requests");
    }

    @Test
    void aCopyWithOneInputChangedIsAnotherMemory() throws Exception {
        EventLog log = EventLog.read(ChaosProtection.inputCopy(work));
        long acknowledgedEnd = PromotedSnapshot.open(Path.of(promoted.getSnapshotPath())).eventLog().orElseThrow().end();
        List<InputEvents.Event> events = new ArrayList<>(InputEvents.parse(log.events()));
        int last = -1; // the last request the standby acknowledged: no later put overwrites its value before the end
        for (int i = 0; i < events.size(); i++) {
            if (events.get(i).kind() == InputEvents.KIND_RECORD && events.get(i).ordinal() < acknowledgedEnd) {
                last = i;
            }
        }
        InputEvents.Event request = events.get(last);
        byte[] data = request.data();
        data[data.length - 1] ^= 1; // the last byte of the value the last request puts
        events.set(last, new InputEvents.Event(request.ordinal(), request.port(), request.kind(), request.value(), data));
        List<String> violations = new ArrayList<>();
        ReplayFinale.Replayed replayed = check(journal(log.from(), log.end(), InputEvents.encode(events)), released,
                violations);
        assertTrue(replayed.digestMismatch(), violations::toString);
        assertTrue(violations.stream().anyMatch(v -> v.contains("the promoted VM's memory")), violations::toString);
    }

    @Test
    void aCopyCutShortOfTheAcknowledgedInputsIsFound() throws Exception {
        EventLog log = EventLog.read(ChaosProtection.inputCopy(work));
        long cut = log.from() + (log.end() - log.from()) / 10;
        List<String> violations = new ArrayList<>();
        ReplayFinale.Replayed replayed = check(journal(log.from(), cut, InputEvents.until(log.events(), cut)), released,
                violations);
        assertTrue(replayed.digestMismatch(), violations::toString);
        assertTrue(violations.stream().anyMatch(v -> v.contains("copy of its inputs ends")), violations::toString);
    }

    @Test
    void aReleasedOutputThePromotedVmDoesNotEmitIsLost() throws Exception {
        // The first output past the promoted checkpoint, as released, is not an answer the guest ever gives.
        List<OutputLog.Record> altered = new ArrayList<>(released.stream()
                .filter(r -> r.index() < promoted.getOutputEnd()).toList());
        byte[] noSuchAnswer = new byte[16];
        java.util.Arrays.fill(noSuchAnswer, (byte) 0xee);
        altered.add(new OutputLog.Record(0, promoted.getOutputEnd(), noSuchAnswer));
        List<String> violations = new ArrayList<>();
        ReplayFinale.Replayed replayed = check(trueCopy, altered, violations);
        assertEquals(1, replayed.notReproduced(), violations::toString);
    }

    private static ReplayFinale.Replayed check(byte[] copy, List<OutputLog.Record> releasedRecords,
                                               List<String> violations) throws Exception {
        Files.write(ChaosProtection.inputCopy(work), copy);
        try {
            return ReplayFinale.check(promoted, protection, work, releasedRecords, violations);
        } finally {
            Files.write(ChaosProtection.inputCopy(work), trueCopy);
        }
    }

    /** A journal file of one record. */
    private static byte[] journal(long from, long end, byte[] events) throws Exception {
        Path file = work.resolve("altered.journal");
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            DurableFiles.writeFully(out, JournalFile.header());
            DurableFiles.writeFully(out, JournalFile.record(from, end, events));
        }
        return Files.readAllBytes(file);
    }
}
