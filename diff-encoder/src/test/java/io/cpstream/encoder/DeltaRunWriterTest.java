package io.cpstream.encoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The run writer against the definition of a run, written out byte by byte: a run starts at a changed byte and
 * ends at the first unchanged byte followed by another unchanged one or by the end of the page. Pages of every
 * density, runs touching word boundaries and both page ends, page sizes that are no multiple of eight.
 */
class DeltaRunWriterTest {

    @Test
    void writesTheRunsOfTheDefinitionForEveryDensityAndPageSize() {
        SplittableRandom random = new SplittableRandom(20261205);
        for (int pageSize : new int[] {4096, 4095, 4093, 64, 9, 1}) {
            for (int trial = 0; trial < 400; trial++) {
                byte[] base = new byte[pageSize];
                random.nextBytes(base);
                byte[] page = base.clone();
                edit(page, random);
                int limit = random.nextInt(4) == 0 ? random.nextInt(pageSize + 1) : pageSize - 1;
                byte[] expected = new byte[pageSize + DeltaFormat.MAX_RUN_HEADER + 8];
                int expectedEnd = reference(page, base, expected, 1, limit);
                byte[] actual = new byte[expected.length];
                int actualEnd = DeltaRunWriter.writeRuns(MemorySegment.ofArray(page), MemorySegment.ofArray(base),
                        pageSize, actual, 1, limit);
                assertEquals(expectedEnd, actualEnd, "page size " + pageSize + ", trial " + trial);
                if (expectedEnd >= 0) {
                    assertArrayEquals(Arrays.copyOf(expected, expectedEnd), Arrays.copyOf(actual, actualEnd),
                            "page size " + pageSize + ", trial " + trial);
                }
            }
        }
    }

    /** Changes some bytes: isolated ones, pairs, words, long stretches, the first and last bytes. */
    private static void edit(byte[] page, SplittableRandom random) {
        int edits = random.nextInt(1 + page.length / (1 + random.nextInt(64)));
        for (int e = 0; e < edits; e++) {
            int at = random.nextInt(page.length);
            int length = switch (random.nextInt(4)) {
                case 0 -> 1;
                case 1 -> 2;
                case 2 -> 8;
                default -> random.nextInt(300);
            };
            for (int i = at; i < Math.min(page.length, at + length); i++) {
                // Leave an unchanged byte now and then inside a stretch: those stay in a run unless two meet.
                if (random.nextInt(7) != 0) {
                    page[i] = (byte) (page[i] ^ (1 + random.nextInt(255)));
                }
            }
        }
        if (random.nextBoolean()) {
            page[0] ^= 1;
        }
        if (random.nextBoolean()) {
            page[page.length - 1] ^= (byte) 0x80;
        }
    }

    private static int reference(byte[] page, byte[] base, byte[] out, int from, int limit) {
        int n = page.length;
        int o = from;
        int previousEnd = 0;
        int i = 0;
        while (true) {
            while (i < n && page[i] == base[i]) {
                i++;
            }
            if (i == n) {
                return o;
            }
            int start = i;
            int end = start + 1;
            while (end < n && !(page[end] == base[end] && (end + 1 == n || page[end + 1] == base[end + 1]))) {
                end++;
            }
            if (o + DeltaFormat.MAX_RUN_HEADER + (end - start) > limit) {
                return -1;
            }
            o = DeltaFormat.writeHeader(out, o, start - previousEnd, end - start);
            for (int k = start; k < end; k++) {
                out[o++] = (byte) (page[k] ^ base[k]);
            }
            previousEnd = end;
            i = end;
        }
    }
}
