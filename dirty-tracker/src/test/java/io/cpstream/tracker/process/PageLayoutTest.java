package io.cpstream.tracker.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PageLayoutTest {

    private static final int P = 4096;

    private static Mapping m(long startPage, long endPage) {
        return new Mapping(startPage * P, endPage * P, "rw-p", "");
    }

    private static Map<Long, Integer> pages(PageLayout layout) {
        Map<Long, Integer> byAddress = new HashMap<>();
        for (PageLayout.Extent extent : layout.extents()) {
            for (long a = extent.start(); a < extent.end(); a += P) {
                byAddress.put(a / P, extent.firstPage() + (int) ((a - extent.start()) / P));
            }
        }
        return byAddress;
    }

    @Test
    void initialMappingsAreLaidOutFromPageZero() {
        PageLayout layout = new PageLayout(P, 100);
        layout.update(List.of(m(10, 14), m(20, 22)));
        assertEquals(List.of(new PageLayout.Extent(10L * P, 14L * P, 0), new PageLayout.Extent(20L * P, 22L * P, 4)),
                layout.extents());
        assertEquals(6, layout.usedPages());
    }

    @Test
    void growthStaysContiguousWhenTheNextGuestPagesAreFree() {
        PageLayout layout = new PageLayout(P, 100);
        layout.update(List.of(m(10, 14)));
        PageLayout.Update grown = layout.update(List.of(m(10, 20)));
        assertTrue(grown.released().isEmpty());
        assertEquals(List.of(new PageLayout.Extent(10L * P, 20L * P, 0)), layout.extents());
    }

    @Test
    void shrinkingAndVanishingReleaseExactlyThoseGuestPages() {
        PageLayout layout = new PageLayout(P, 100);
        layout.update(List.of(m(10, 20), m(30, 35)));
        PageLayout.Update update = layout.update(List.of(m(12, 18)));
        BitSet released = new BitSet();
        update.released().forEach(run -> released.set(run.first(), run.first() + run.pages()));
        BitSet expected = new BitSet();
        expected.set(0, 2);
        expected.set(8, 15);
        assertEquals(expected, released);
        assertEquals(Map.of(12L, 2, 13L, 3, 14L, 4, 15L, 5, 16L, 6, 17L, 7), pages(layout));
    }

    @Test
    void fullLayoutFailsAndStaysAsItWas() {
        PageLayout layout = new PageLayout(P, 10);
        layout.update(List.of(m(0, 8)));
        List<PageLayout.Extent> before = layout.extents();
        assertThrows(PageLayout.FullException.class, () -> layout.update(List.of(m(0, 8), m(100, 103))));
        assertEquals(before, layout.extents());
        layout.update(List.of(m(2, 8), m(100, 104))); // 2 released pages make room
        assertEquals(10, layout.usedPages());
    }

    /** Random churn: pages that stay mapped never move, and no two virtual pages share a guest page. */
    @Test
    void randomChurnKeepsPagesPutAndDistinct() {
        Random random = new Random(42);
        PageLayout layout = new PageLayout(P, 4096);
        List<Mapping> mappings = List.of();
        Map<Long, Integer> before = Map.of();
        for (int round = 0; round < 500; round++) {
            List<Mapping> next = new ArrayList<>();
            long cursor = 0;
            for (int i = 0; i < 12; i++) {
                cursor += random.nextInt(40);
                long length = 1 + random.nextInt(random.nextInt(4) == 0 ? 200 : 20);
                if (random.nextInt(3) > 0) {
                    next.add(m(cursor, cursor + length));
                }
                cursor += length;
            }
            layout.update(next);
            Map<Long, Integer> after = pages(layout);
            long expectedPages = next.stream().mapToLong(x -> x.bytes() / P).sum();
            assertEquals(expectedPages, after.size());
            assertEquals(after.size(), new java.util.HashSet<>(after.values()).size(), "guest pages are distinct");
            for (Map.Entry<Long, Integer> page : after.entrySet()) {
                Integer old = before.get(page.getKey());
                if (old != null) {
                    assertEquals(old, page.getValue(), "virtual page " + page.getKey() + " stayed mapped but moved");
                }
                assertTrue(page.getValue() >= 0 && page.getValue() < 4096);
            }
            assertEquals(expectedPages, layout.usedPages());
            mappings = next;
            before = after;
        }
        assertFalse(mappings.isEmpty());
    }
}
