package io.cpstream.encoder;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The work the encoder skips when it cannot pay: duplicate lookups while nothing repeats, LZ4 on random bytes. */
class CheapPathTest {

    private static final int PAGE = 4096;
    private final Arena arena = Arena.ofAuto();
    private final SplittableRandom random = new SplittableRandom(7);

    private MemorySegment randomPage() {
        MemorySegment page = arena.allocate(PAGE);
        for (int i = 0; i < PAGE; i += 8) {
            page.set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextLong());
        }
        return page;
    }

    @Test
    void duplicateLookupsBackOffWhileNothingRepeatsAndComeBackWhenPagesRepeat() {
        DuplicateIndex index = new DuplicateIndex(1 << 16, 1 << 17);
        PageEncoder encoder = new PageEncoder(PAGE);
        int page = 0;
        for (int i = 0; i < 2 * DuplicateIndex.WINDOW; i++) {
            encoder.encode(page++, randomPage(), null, 0, index);
        }
        assertFalse(index.sampling(), "misses in an empty index (a full sync) say nothing about the guest");
        assertEquals(0, index.lookups());
        index.publish();
        for (int i = 0; i < DuplicateIndex.WINDOW; i++) {
            encoder.encode(page++, randomPage(), null, 0, index);
        }
        assertTrue(index.sampling(), "a window of misses switches to sampling");
        assertEquals(DuplicateIndex.WINDOW, index.lookups());
        for (int i = 0; i < DuplicateIndex.SAMPLE_STRIDE * 4; i++) {
            encoder.encode(page++, randomPage(), null, 0, index);
        }
        assertEquals(DuplicateIndex.WINDOW + 4, index.lookups(), "one page in SAMPLE_STRIDE is looked up");
        index.publish();

        // A guest that starts repeating one content: the sampled lookups hit, and every page is looked up again.
        MemorySegment shared = randomPage();
        for (int i = 0; i < DuplicateIndex.WINDOW && index.sampling(); i++) {
            encoder.encode(page++, shared, null, 0, index);
            index.publish();
        }
        assertFalse(index.sampling(), "hits bring back a lookup for every page");
        assertEquals(PageEncoding.DUPLICATE, encoder.encode(page++, shared, null, 0, index).encoding());
    }

    @Test
    void aPageSentWithoutALookupNoLongerServesAsASource() {
        DuplicateIndex index = new DuplicateIndex(1 << 16, 1 << 17);
        PageEncoder encoder = new PageEncoder(PAGE);
        MemorySegment old = randomPage();
        encoder.encode(0, old, null, 0, index);
        index.publish();
        int page = 1;
        while (!index.sampling()) {
            encoder.encode(page++, randomPage(), null, 0, index);
        }
        // Page 0 changes while lookups are sampled, in a send that is not looked up (the one right after a lookup).
        long lookups = index.lookups();
        while (index.lookups() == lookups) {
            encoder.encode(page++, randomPage(), null, 0, index);
        }
        encoder.encode(0, randomPage(), null, 0, index);
        assertEquals(lookups + 1, index.lookups(), "page 0's send was not looked up");
        index.publish();
        MemorySegment shared = randomPage();
        while (index.sampling()) {
            encoder.encode(page++, shared, null, 0, index);
            index.publish();
        }
        EncodedPage again = encoder.encode(page, old, null, 0, index);
        assertNotEquals(PageEncoding.DUPLICATE, again.encoding(), "page 0 no longer holds that content");
    }

    @Test
    void lz4IsSkippedOnBytesThatDidNotCompressAndTriedAgainLater() {
        Lz4Backoff backoff = new Lz4Backoff(4);
        PageEncoder encoder = new PageEncoder(PAGE);
        DuplicateIndex index = new DuplicateIndex(4, 8);
        MemorySegment noise = randomPage();
        int attempts = 0;
        for (int send = 0; send <= 1 + Lz4Backoff.FIRST_BACKOFF + 1 + 2 * Lz4Backoff.FIRST_BACKOFF; send++) {
            boolean wouldTry = probe(backoff);
            assertEquals(PageEncoding.FULL, encoder.encode(2, noise, null, 0, index, backoff).encoding());
            attempts += wouldTry ? 1 : 0;
        }
        assertEquals(3, attempts, "tried, skipped 8 sends, tried, skipped 16 sends, tried");

        MemorySegment text = arena.allocate(PAGE);
        for (int i = 0; i < PAGE; i++) {
            text.set(ValueLayout.JAVA_BYTE, i, (byte) ('a' + i % 7));
        }
        while (!probe(backoff)) {
            encoder.encode(2, text, null, 0, index, backoff);
        }
        assertEquals(PageEncoding.LZ4, encoder.encode(2, text, null, 0, index, backoff).encoding());
        assertTrue(probe(backoff), "an attempt that compresses resets the backoff");
    }

    /** Whether page 2's next send would try LZ4 on the whole page, without counting a send. */
    private static boolean probe(Lz4Backoff backoff) {
        return backoff.wouldTry(Lz4Backoff.Input.PAGE, 2);
    }

    @Test
    void hashSeparatesPagesThatDifferOnlyInTheOrderOfTheirStripes() {
        PageHash128 hash = new PageHash128();
        MemorySegment page = randomPage();
        Set<String> seen = new HashSet<>();
        hash.hash(page);
        seen.add(hash.high() + ":" + hash.low());
        MemorySegment swapped = arena.allocate(PAGE);
        for (int a = 0; a < PAGE / 64; a += 5) {
            int b = (a * 7 + 3) % (PAGE / 64);
            if (a == b) {
                continue;
            }
            swapped.copyFrom(page);
            MemorySegment.copy(page, a * 64L, swapped, b * 64L, 64);
            MemorySegment.copy(page, b * 64L, swapped, a * 64L, 64);
            hash.hash(swapped);
            assertTrue(seen.add(hash.high() + ":" + hash.low()), "stripes " + a + " and " + b + " swapped");
        }
        MemorySegment small = arena.allocate(48);
        hash.hash(small);
        long zeros48 = hash.low();
        hash.hash(arena.allocate(64));
        assertNotEquals(zeros48, hash.low(), "the size enters the hash of padded pages");
    }

    @Test
    void aDeltaIsJudgedByItsSizeAndAPageRewrittenWholesaleIsComparedOnlyNowAndThen() throws CorruptPageException {
        PageEncoder encoder = new PageEncoder(PAGE);
        PageDecoder decoder = new PageDecoder(PAGE);
        DeltaCandidateClassifier classifier = new DeltaCandidateClassifier(PAGE);
        MemorySegment old = randomPage();
        for (int changed : new int[] {8, 256, 2048, 3000}) {
            MemorySegment page = arena.allocate(PAGE);
            page.copyFrom(old);
            for (int i = 0; i < changed; i++) {
                page.set(ValueLayout.JAVA_BYTE, 100 + i, (byte) ~old.get(ValueLayout.JAVA_BYTE, 100 + i));
            }
            EncodedPage record = encoder.encode(page, old, 3);
            MemorySegment dst = arena.allocate(PAGE);
            decoder.decode(1, record, RoundTripTest.receiverHolding(old, 3), dst);
            assertTrue(record.encoding().isDelta(), changed + " bytes changed: " + record.encoding());
            DeltaCandidateClassifier.Decision compared = classifier.classify(old, dst);
            int comparedBytes = classifier.lastDeltaBytes();
            assertEquals(compared, classifier.classifyDelta(decoder.lastDeltaRunBytes()), changed + " bytes changed");
            assertEquals(comparedBytes, classifier.lastDeltaBytes(), changed + " bytes changed");
        }
        decoder.decode(PageEncoding.FULL, old.asByteBuffer(), PageChecksums.crc32c(old), arena.allocate(PAGE));
        assertEquals(-1, decoder.lastDeltaRunBytes(), "not after a FULL record");

        DeltaFeedback feedback = new DeltaFeedback(8);
        assertTrue(feedback.worthClassifying(5), "no verdict yet");
        feedback.note(5, DeltaCandidateClassifier.Decision.CANDIDATE);
        assertTrue(feedback.worthClassifying(5), "candidates are always judged again");
        feedback.note(5, DeltaCandidateClassifier.Decision.NOT_CANDIDATE);
        int classified = 0;
        for (int i = 0; i < 4 * DeltaFeedback.NOT_CANDIDATE_RECHECK; i++) {
            classified += feedback.worthClassifying(5) ? 1 : 0;
        }
        assertEquals(4, classified, "one receipt in NOT_CANDIDATE_RECHECK");
        feedback.reset();
        assertTrue(feedback.worthClassifying(5), "a new agent: every page judged afresh");
    }

    @Test
    void zeroDetectionLooksAtEveryByteWhenTheEndsAreZero() {
        MemorySegment page = arena.allocate(PAGE);
        assertTrue(ZeroPages.isZero(page));
        for (int at : new int[] {0, 7, 8, 2048, PAGE - 9, PAGE - 8, PAGE - 1}) {
            page.fill((byte) 0);
            page.set(ValueLayout.JAVA_BYTE, at, (byte) 0x40);
            assertFalse(ZeroPages.isZero(page), "byte " + at);
        }
        assertTrue(ZeroPages.isZero(arena.allocate(4)), "a page shorter than a word");
    }
}
