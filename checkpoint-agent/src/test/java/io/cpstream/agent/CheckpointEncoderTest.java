package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.proto.Feedback;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The encoder names a base version or a duplicate source only when the collector is certain to hold it as the
 * checkpoint applies: along the chain of checkpoints, and never across a restart, a collector restart, a
 * half-sent checkpoint or a page the collector asked for whole (I1, I4).
 */
class CheckpointEncoderTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 32;
    private final Arena arena = Arena.ofConfined();
    private final SplittableRandom random = new SplittableRandom(3);
    private final MemorySegment[] memory = new MemorySegment[PAGES];
    private final CheckpointEncoder encoder = new CheckpointEncoder(EncodingMode.CPSTREAM, PAGE, PAGES, 1 << 20,
            new AgentMetrics(new SimpleMeterRegistry(), "vm", () -> 0, () -> 0, () -> 0, () -> 1));

    CheckpointEncoderTest() {
        for (int p = 0; p < PAGES; p++) {
            memory[p] = arena.allocate(PAGE);
            for (int i = 0; i < PAGE; i += 8) {
                memory[p].set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextLong());
            }
        }
    }

    @AfterEach
    void close() {
        encoder.close();
        arena.close();
    }

    private void touch(int page) {
        memory[page].set(ValueLayout.JAVA_LONG_UNALIGNED, 8L * random.nextInt(PAGE / 8), random.nextLong());
    }

    /** Encodes one checkpoint of {@code pages} (touching each first); returns the records in page order. */
    private List<EncodedPage> checkpoint(long epoch, long base, boolean full, boolean finish, int... pages) {
        BitSet set = new BitSet();
        if (full) {
            set.set(0, PAGES);
        }
        for (int page : pages) {
            set.set(page);
        }
        encoder.begin(new CheckpointPlan(epoch, base, full, set, 1, 0, 0));
        List<EncodedPage> records = new java.util.ArrayList<>();
        for (int page = set.nextSetBit(0); page >= 0; page = set.nextSetBit(page + 1)) {
            if (!full) {
                touch(page);
            }
            EncodedPage record = encoder.encode(page, memory[page]);
            // Keep what matters past the next call: the payload is scratch.
            records.add(new EncodedPage(record.encoding(), java.nio.ByteBuffer.allocate(0), record.crc32c(),
                    record.baseVersion(), record.sourceIndex()));
        }
        if (finish) {
            encoder.end();
        }
        return records;
    }

    private EncodedPage one(long epoch, long base, int page) {
        return checkpoint(epoch, base, false, true, page).getFirst();
    }

    @Test
    void deltasFollowTheChainAcknowledgedOrNot() {
        checkpoint(1, 0, true, true);
        EncodedPage first = one(2, 1, 3);
        assertEquals(PageEncoding.DELTA, first.encoding());
        assertEquals(1, first.baseVersion(), "against the full sync's copy");
        // Epoch 2 is not acknowledged, but 3 applies only on top of it.
        EncodedPage pipelined = one(3, 2, 3);
        assertEquals(PageEncoding.DELTA, pipelined.encoding());
        assertEquals(2, pipelined.baseVersion());
    }

    @Test
    void aRestartFromAnOlderBaseDropsWhatWasSentAfterIt() {
        checkpoint(1, 0, true, true);
        assertEquals(PageEncoding.DELTA, one(2, 1, 3).encoding());
        assertEquals(PageEncoding.DELTA, one(3, 2, 4).encoding());
        // Resync: the collector committed 2 and dropped 3 (and 4, planned but never sent).
        EncodedPage page4 = one(5, 2, 4);
        assertNotEquals(PageEncoding.DELTA, page4.encoding(), "page 4's copy is of epoch 3, which never committed");
        EncodedPage page3 = one(6, 5, 3);
        assertEquals(PageEncoding.DELTA, page3.encoding());
        assertEquals(2, page3.baseVersion(), "page 3's copy of epoch 2 is still what the collector holds");
    }

    @Test
    void duplicatesNeverReferToAnAbortedCheckpointOrToTheOneBeingSent() {
        checkpoint(1, 0, true, true);
        one(2, 1, 8); // page 8 gets new content X
        // Pages 9 and 10 take X in epoch 3: page 8 as committed at the base holds it, page 9 only in this checkpoint.
        BitSet both = new BitSet();
        both.set(9);
        both.set(10);
        memory[9].copyFrom(memory[8]);
        memory[10].copyFrom(memory[8]);
        encoder.begin(new CheckpointPlan(3, 2, false, both, 1, 0, 0));
        EncodedPage nine = encoder.encode(9, memory[9]);
        assertEquals(PageEncoding.DUPLICATE, nine.encoding(), "page 8 as committed holds these bytes");
        assertEquals(8, nine.sourceIndex());
        EncodedPage ten = encoder.encode(10, memory[10]);
        assertEquals(8, ten.sourceIndex(), "not page 9: it holds X only once this checkpoint commits");
        encoder.end();
        // Page 8 changes in epoch 4 while page 11 takes X: pages 9 and 10 hold it along the chain.
        memory[11].copyFrom(memory[10]);
        BitSet next = new BitSet();
        next.set(8);
        next.set(11);
        encoder.begin(new CheckpointPlan(4, 3, false, next, 1, 0, 0));
        touch(8);
        assertEquals(PageEncoding.DELTA, encoder.encode(8, memory[8]).encoding());
        EncodedPage eleven = encoder.encode(11, memory[11]);
        assertEquals(PageEncoding.DUPLICATE, eleven.encoding());
        assertNotEquals(8, eleven.sourceIndex());
        encoder.end();
        // After a restart from epoch 2, where no page but 8 held X and 8 changed since: no duplicate at all.
        encoder.begin(new CheckpointPlan(5, 2, false, bitSet(11), 1, 0, 0));
        assertNotEquals(PageEncoding.DUPLICATE, encoder.encode(11, memory[11]).encoding());
        encoder.end();
    }

    @Test
    void aCollectorThatRestartedGetsNoDeltaAgainstVersionsItCannotKnow() {
        checkpoint(1, 0, true, true);
        assertEquals(PageEncoding.DELTA, one(2, 1, 3).encoding());
        encoder.onWelcome(2); // restarted at epoch 2: it knows versions written after 2 only
        assertNotEquals(PageEncoding.DELTA, one(3, 2, 3).encoding());
        assertNotEquals(PageEncoding.DELTA, one(4, 3, 5).encoding(), "page 5's copy is of epoch 1");
        EncodedPage again = one(5, 4, 3);
        assertEquals(PageEncoding.DELTA, again.encoding());
        assertEquals(3, again.baseVersion());
    }

    @Test
    void pagesTheCollectorAsksForWholeGoWhole() {
        checkpoint(1, 0, true, true);
        encoder.onResync(List.of(7L, 1000L, -1L)); // out-of-range names are ignored, not fatal
        List<EncodedPage> records = checkpoint(2, 1, false, true, 7, 8);
        assertNotEquals(PageEncoding.DELTA, records.get(0).encoding());
        assertEquals(PageEncoding.DELTA, records.get(1).encoding());
    }

    @Test
    void aHalfSentCheckpointLeavesNoCopyBehind() {
        checkpoint(1, 0, true, true);
        checkpoint(2, 1, false, false, 3, 4); // the stream broke mid-checkpoint: no end()
        List<EncodedPage> records = checkpoint(3, 1, false, true, 3, 5);
        assertNotEquals(PageEncoding.DELTA, records.get(0).encoding(), "page 3's copy is of epoch 2, never committed");
        assertEquals(PageEncoding.DELTA, records.get(1).encoding());
        assertEquals(1, records.get(1).baseVersion());
    }

    @Test
    void aFullCheckpointOrAnUnknownBaseStartsOver() {
        checkpoint(1, 0, true, true);
        List<EncodedPage> full = checkpoint(2, 1, true, true);
        full.forEach(record -> assertNotEquals(PageEncoding.DELTA, record.encoding()));
        full.forEach(record -> assertNotEquals(PageEncoding.DUPLICATE, record.encoding()));
        assertNotEquals(PageEncoding.DELTA, one(9, 8, 3).encoding(), "base 8 was never completed here");
    }

    @Test
    void pagesJudgedNotWorthADeltaKeepTheirCopyWhileThereIsRoom() {
        // As XBZRLE: a page rewritten wholesale last time may change by one word next time. The verdict decides
        // what is evicted first once the cache is full (DeltaBaseCacheTest), not what is admitted.
        checkpoint(1, 0, true, true);
        encoder.onFeedback(Feedback.newBuilder().addNotCandidates(3).addDeltaCandidates(4).build());
        List<EncodedPage> records = checkpoint(2, 1, false, true, 3, 4);
        assertEquals(PageEncoding.DELTA, records.get(0).encoding());
        assertEquals(1, records.get(0).baseVersion());
        assertEquals(PageEncoding.DELTA, records.get(1).encoding());
    }

    private static BitSet bitSet(int page) {
        BitSet set = new BitSet();
        set.set(page);
        return set;
    }
}
