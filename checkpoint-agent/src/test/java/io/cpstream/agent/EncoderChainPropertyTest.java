package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.PageDecoder;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.encoder.ReceiverPages;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A random walk through everything that breaks the chain of checkpoints: pipelining, streams that break (also
 * mid-checkpoint), collector restarts that forget page versions, checkpoints the collector skips. The collector
 * here is a model of {@code Standby}: it applies a checkpoint only on its base epoch, decodes against its committed
 * image and the versions it knows, and applies at commit. Property: the encoder never names a base version or a
 * duplicate source the collector does not hold (no record is ever refused), and after every commit the image is
 * the guest's memory at that epoch, byte for byte.
 */
class EncoderChainPropertyTest {

    private static final int PAGE = 4096;
    private static final int PAGES = 48;

    /** One encoded checkpoint on its way to the collector: records with their payloads copied. */
    private record Sent(long epoch, long base, boolean full, int[] pages, List<EncodedPage> records,
                        MemorySegment expected) {
    }

    private final Arena arena = Arena.ofConfined();
    private final MemorySegment memory = arena.allocate((long) PAGES * PAGE);
    private final MemorySegment image = arena.allocate((long) PAGES * PAGE);
    private final long[] versions = new long[PAGES];
    private final PageDecoder decoder = new PageDecoder(PAGE);
    private final Map<PageEncoding, Integer> seen = new EnumMap<>(PageEncoding.class);
    private SplittableRandom random;
    private long committed;
    private long lastPlanned;
    /** Pages of each planned epoch not yet known committed: a restart from base B resends those after B. */
    private final TreeMap<Long, BitSet> planned = new TreeMap<>();
    private Long restartFrom;
    private boolean needFull = true;

    private final ReceiverPages committedPages = new ReceiverPages() {
        @Override
        public MemorySegment page(long index) {
            return index >= 0 && index < PAGES ? image.asSlice(index * PAGE, PAGE) : null;
        }

        @Override
        public long version(long index) {
            return versions[(int) index];
        }
    };

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6})
    void theEncoderNeverNamesWhatTheCollectorDoesNotHold(long seed) throws Exception {
        random = new SplittableRandom(seed);
        for (int i = 0; i < PAGES * PAGE / 8; i++) {
            memory.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextInt(4) == 0 ? 0 : random.nextLong());
        }
        ArrayDeque<Sent> inFlight = new ArrayDeque<>();
        int commits = 0;
        try (CheckpointEncoder encoder = new CheckpointEncoder(EncodingMode.CPSTREAM, PAGE, PAGES, 24L * PAGE,
                new AgentMetrics(new SimpleMeterRegistry(), "vm", () -> 0, () -> 0, () -> 0, () -> 1))) {
            for (int step = 0; step < 1500; step++) {
                int event = random.nextInt(100);
                if (event < 55 && inFlight.size() < 4) {
                    inFlight.add(planAndEncode(encoder, true));
                } else if (event < 88 && !inFlight.isEmpty()) {
                    commits += deliver(encoder, inFlight.poll(), inFlight) ? 1 : 0;
                } else if (event < 93) {
                    // The stream breaks: what was in flight is lost, maybe one checkpoint half encoded.
                    inFlight.clear();
                    if (random.nextBoolean()) {
                        planAndEncode(encoder, false);
                    }
                    reconnect(encoder, 0);
                } else if (event < 96) {
                    // The collector restarts: it keeps its image, forgets which epoch wrote each page.
                    inFlight.clear();
                    java.util.Arrays.fill(versions, 0);
                    reconnect(encoder, committed);
                } else if (event < 98) {
                    // Feedback, as the collector's classifier would send it for some page.
                    int page = random.nextInt(PAGES);
                    encoder.onFeedback(io.cpstream.proto.Feedback.newBuilder()
                            .addAllDeltaCandidates(random.nextBoolean() ? List.of((long) page) : List.of())
                            .addAllNotCandidates(random.nextBoolean() ? List.of((long) page) : List.of()).build());
                }
            }
        }
        assertTrue(commits > 200, "only " + commits + " commits");
        assertTrue(seen.getOrDefault(PageEncoding.DELTA, 0) > 100, "deltas: " + seen);
        assertTrue(seen.getOrDefault(PageEncoding.DUPLICATE, 0) > 10, "duplicates: " + seen);
        arena.close();
    }

    private void reconnect(CheckpointEncoder encoder, long pageVersionsAfter) {
        encoder.onWelcome(pageVersionsAfter);
        restartFrom = committed;
    }

    /** The guest writes, the agent stuns, plans and encodes (like ReplicationState.plan and CheckpointSender). */
    private Sent planAndEncode(CheckpointEncoder encoder, boolean finish) {
        BitSet dirty = new BitSet();
        for (int n = 1 + random.nextInt(6); n > 0; n--) {
            int page = random.nextInt(PAGES);
            write(page);
            dirty.set(page);
        }
        long epoch = ++lastPlanned;
        long base = lastPlanned - 1;
        boolean full = needFull;
        BitSet pages = (BitSet) dirty.clone();
        if (full) {
            pages.set(0, PAGES);
            needFull = false;
        } else if (restartFrom != null) {
            base = restartFrom;
            for (BitSet earlier : planned.tailMap(base, false).values()) {
                pages.or(earlier);
            }
        }
        restartFrom = null;
        planned.put(epoch, (BitSet) pages.clone());
        encoder.begin(new CheckpointPlan(epoch, base, full, pages, 0, 0, 0));
        List<EncodedPage> records = new ArrayList<>();
        int[] order = pages.stream().toArray();
        for (int page : order) {
            EncodedPage record = encoder.encode(page, memory.asSlice((long) page * PAGE, PAGE));
            ByteBuffer copy = ByteBuffer.allocate(record.payloadBytes());
            copy.put(record.payload().duplicate()).flip();
            records.add(new EncodedPage(record.encoding(), copy, record.crc32c(), record.baseVersion(),
                    record.sourceIndex()));
            seen.merge(record.encoding(), 1, Integer::sum);
            if (!finish && random.nextInt(3) == 0) {
                return null; // the stream broke mid-checkpoint
            }
        }
        if (!finish) {
            return null;
        }
        encoder.end();
        MemorySegment expected = arena.allocate((long) PAGES * PAGE);
        expected.copyFrom(memory);
        return new Sent(epoch, base, full, order, records, expected);
    }

    private void write(int page) {
        MemorySegment target = memory.asSlice((long) page * PAGE, PAGE);
        int kind = random.nextInt(20);
        if (kind < 13) {
            target.set(ValueLayout.JAVA_LONG_UNALIGNED, 8L * random.nextInt(PAGE / 8), random.nextLong());
        } else if (kind < 16) {
            target.copyFrom(memory.asSlice((long) random.nextInt(PAGES) * PAGE, PAGE)); // a duplicate
        } else if (kind < 17) {
            target.fill((byte) 0);
        } else {
            for (int i = 0; i < PAGE; i += 8) {
                target.set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextLong());
            }
        }
    }

    /** The model collector: returns whether the checkpoint committed. */
    private boolean deliver(CheckpointEncoder encoder, Sent sent, ArrayDeque<Sent> inFlight) {
        if (!sent.full() && sent.base() != committed) {
            return false; // skipped: pipelined after a checkpoint that did not commit; a restart is on its way
        }
        MemorySegment staging = arena.allocate((long) sent.pages().length * PAGE);
        for (int i = 0; i < sent.pages().length; i++) {
            int page = sent.pages()[i];
            try {
                decoder.decode(page, sent.records().get(i), committedPages, staging.asSlice((long) i * PAGE, PAGE));
            } catch (CorruptPageException e) {
                fail("epoch " + sent.epoch() + " (base " + sent.base() + ", committed " + committed + "), page " + page
                        + ": the encoder named something the collector does not hold: " + e.getMessage());
            }
        }
        for (int i = 0; i < sent.pages().length; i++) {
            int page = sent.pages()[i];
            MemorySegment.copy(staging, (long) i * PAGE, image, (long) page * PAGE, PAGE);
            versions[page] = sent.epoch();
        }
        committed = sent.epoch();
        planned.headMap(committed, true).clear();
        assertEquals(-1, image.mismatch(sent.expected()), "image differs from the guest at epoch " + committed);
        if (random.nextInt(15) == 0 && !inFlight.isEmpty()) {
            // The collector drops the next checkpoint (say its disk failed to stage it) and asks for a resync.
            Sent dropped = inFlight.poll();
            inFlight.clear();
            encoder.onResync(List.of((long) dropped.pages()[0]));
            restartFrom = committed;
        }
        return true;
    }
}
