package io.cpstream.collector.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.snapshot.CommittedOutputs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The commit log: the last whole record wins, a cut or damaged tail is what a crash left, and it stays small. */
class CommitLogTest {

    @TempDir
    Path dir;

    private static CommittedState state(long epoch, int deviceBytes) {
        byte[] device = new byte[deviceBytes];
        Arrays.fill(device, (byte) epoch);
        return new CommittedState(epoch, device, CommittedOutputs.NONE, null);
    }

    @Test
    void theLastWholeRecordIsTheCommittedEpoch() throws IOException {
        CommitLog log = new CommitLog(dir, false);
        log.reset(0, CommittedState.EMPTY);
        for (long epoch = 1; epoch <= 5; epoch++) {
            log.append(1000 * epoch, state(epoch, 16));
        }
        CommitLog.Last last = log.readLast();
        assertEquals(5, last.state().epoch());
        assertEquals(5000, last.stunUnixMicros());
        assertArrayEquals(state(5, 16).deviceState(), last.state().deviceState());
    }

    @Test
    void aRecordCutShortOrDamagedByACrashLeavesTheOneBefore() throws IOException {
        CommitLog log = new CommitLog(dir, false);
        log.reset(0, CommittedState.EMPTY);
        log.append(1000, state(1, 16));
        long whole = Files.size(dir.resolve(CommitLog.FILE));
        log.append(2000, state(2, 16));
        byte[] bytes = Files.readAllBytes(dir.resolve(CommitLog.FILE));
        for (long cut = whole; cut < bytes.length; cut++) {
            Files.write(dir.resolve(CommitLog.FILE), Arrays.copyOf(bytes, (int) cut));
            assertEquals(1, log.readLast().state().epoch(), "cut at " + cut);
        }
        byte[] damaged = bytes.clone();
        damaged[(int) whole + 14] ^= 1; // inside epoch 2's state
        Files.write(dir.resolve(CommitLog.FILE), damaged);
        assertEquals(1, log.readLast().state().epoch());
        byte[] lengthTooLarge = bytes.clone();
        ByteBuffer.wrap(lengthTooLarge).order(ByteOrder.LITTLE_ENDIAN).putInt((int) whole, Integer.MAX_VALUE);
        Files.write(dir.resolve(CommitLog.FILE), lengthTooLarge);
        assertEquals(1, log.readLast().state().epoch());
    }

    @Test
    void anEmptyLogHoldsNoCommitAndAForeignOrNewerFileIsRefused() throws IOException {
        CommitLog log = new CommitLog(dir, false);
        log.reset(0, CommittedState.EMPTY);
        byte[] header = Arrays.copyOf(Files.readAllBytes(dir.resolve(CommitLog.FILE)), 12);
        Files.write(dir.resolve(CommitLog.FILE), header);
        assertNull(log.readLast());
        ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN).putInt(8, 2);
        Files.write(dir.resolve(CommitLog.FILE), header);
        IOException newer = assertThrows(IOException.class, log::readLast);
        assertTrue(newer.getMessage().contains("newer"), newer.getMessage());
        Files.write(dir.resolve(CommitLog.FILE), new byte[] {1, 2, 3});
        assertThrows(IOException.class, log::readLast);
    }

    @Test
    void aLogPastItsBoundIsRewrittenWithItsLastRecord() throws IOException {
        CommitLog log = new CommitLog(dir, false);
        log.reset(0, CommittedState.EMPTY);
        long epochs = 3 * CommitLog.COMPACT_BYTES / 4096;
        for (long epoch = 1; epoch <= epochs; epoch++) {
            log.append(epoch, state(epoch, 4000));
            assertTrue(Files.size(dir.resolve(CommitLog.FILE)) <= CommitLog.COMPACT_BYTES, "epoch " + epoch);
        }
        assertEquals(epochs, log.readLast().state().epoch());
    }
}
