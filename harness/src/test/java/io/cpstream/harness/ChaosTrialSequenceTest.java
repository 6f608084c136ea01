package io.cpstream.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.output.OutputLog;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

/**
 * The chaos trial's check of the released output stream against the promoted epoch's output end, which is
 * exclusive: the index of the first output the promoted epoch does not hold.
 */
class ChaosTrialSequenceTest {

    @Test
    void aStreamThatEndsExactlyAtTheOutputEndMissesNothing() {
        ChaosFinale.SequenceCheck check = ChaosFinale.checkSequence(counter(0, 10), 10);
        assertEquals(0, check.missing(), () -> check.violations().toString());
        assertEquals(List.of(), check.violations());
    }

    @Test
    void aStreamThatStopsShortOfTheOutputEndMissesTheRest() {
        ChaosFinale.SequenceCheck check = ChaosFinale.checkSequence(counter(0, 8), 10);
        assertEquals(2, check.missing(), "outputs 8 and 9");
        assertEquals(1, check.violations().size(), () -> check.violations().toString());
    }

    @Test
    void nothingReleasedMissesEveryOutputOfThePromotedEpoch() {
        assertEquals(0, ChaosFinale.checkSequence(List.of(), 0).missing());
        assertEquals(3, ChaosFinale.checkSequence(List.of(), 3).missing());
    }

    @Test
    void aStreamBeyondTheOutputEndMissesNothing() {
        ChaosFinale.SequenceCheck check = ChaosFinale.checkSequence(counter(0, 30), 10);
        assertEquals(0, check.missing());
        assertEquals(List.of(), check.violations());
    }

    @Test
    void aHoleIsMissingOutputsAndBreaksTheCounter() {
        List<OutputLog.Record> records = new ArrayList<>(counter(0, 3));
        records.addAll(counter(5, 10));
        ChaosFinale.SequenceCheck check = ChaosFinale.checkSequence(records, 10);
        assertEquals(2, check.missing(), "outputs 3 and 4");
        assertTrue(check.violations().stream().anyMatch(v -> v.contains("output 3 is missing")), check.violations()::toString);
        assertTrue(check.violations().stream().anyMatch(v -> v.contains("not the successor")), check.violations()::toString);
    }

    /** Outputs {@code from} to {@code to} (exclusive) of the counter guest: output i carries i + 1. */
    private static List<OutputLog.Record> counter(long from, long to) {
        return LongStream.range(from, to).mapToObj(i -> new OutputLog.Record(1, i,
                ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(i + 1).array())).toList();
    }
}
