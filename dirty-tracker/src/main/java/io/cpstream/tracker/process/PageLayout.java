package io.cpstream.tracker.process;

import java.util.ArrayList;
import java.util.List;

/**
 * Where each protected virtual page of the process lives in the fixed, linear guest page space the
 * collector stores ({@code pageCount} pages).
 *
 * <p>The layout is a list of extents, each a run of virtual pages mapped onto a run of guest pages.
 * It only ever changes as little as the process's mappings force it to:
 * <ul>
 *   <li>a virtual page that stays mapped keeps its guest page, epoch after epoch;</li>
 *   <li>a page that is no longer mapped (the mapping vanished or shrank) gives its guest page back; it
 *       reads as zero from then on, so the standby sees that memory as gone;</li>
 *   <li>a newly mapped page (a new mapping, or growth) gets a free guest page: preferably right after
 *       the guest page of the virtual page just below it (a heap that grows stays contiguous) or right
 *       before the one above it (a stack), else the first free run long enough, else several pieces.</li>
 * </ul>
 * Guest pages freed in one update may be reused in the same update; their contents change, so they are
 * dirty like any other changed page. Correctness never depends on the layout (the standby holds
 * whatever the guest pages held at the stun); the layout only decides how many pages look dirty.
 */
final class PageLayout {

    /** Virtual pages {@code [start, end)} held in guest pages from {@code firstPage} on. */
    record Extent(long start, long end, int firstPage) {

        int pages(int pageSize) {
            return (int) ((end - start) / pageSize);
        }
    }

    /** What an update did: guest page runs that no longer hold anything, and whether anything moved. */
    record Update(List<FreePageRuns.Run> released, boolean changed) {
    }

    /** Thrown before the layout changes when the mappings need more guest pages than exist. */
    static final class FullException extends RuntimeException {
        FullException(String message) {
            super(message);
        }
    }

    private final int pageSize;
    private final int pageCount;
    private final FreePageRuns free;
    private List<Extent> extents = List.of();

    PageLayout(int pageSize, int pageCount) {
        this.pageSize = pageSize;
        this.pageCount = pageCount;
        this.free = new FreePageRuns(pageCount);
    }

    List<Extent> extents() {
        return extents;
    }

    /** Guest pages in use. */
    long usedPages() {
        return pageCount - free.free();
    }

    /**
     * Re-lays the guest page space for {@code mappings} (sorted by address, not overlapping, page
     * aligned). On {@link FullException} the layout is unchanged.
     */
    Update update(List<Mapping> mappings) {
        List<Extent> kept = new ArrayList<>();
        List<FreePageRuns.Run> released = new ArrayList<>();
        splitByMappings(mappings, kept, released);

        long keptPages = 0;
        for (Extent piece : kept) {
            keptPages += piece.pages(pageSize);
        }
        long releasedPages = 0;
        for (FreePageRuns.Run run : released) {
            releasedPages += run.pages();
        }
        long wanted = 0;
        for (Mapping mapping : mappings) {
            requireAligned(mapping);
            wanted += mapping.bytes() / pageSize;
        }
        long newPages = wanted - keptPages;
        if (newPages > free.free() + releasedPages) {
            throw new FullException("the process's writable memory needs " + wanted + " pages ("
                    + (wanted * pageSize >> 20) + " MiB) but the guest page space has " + pageCount + " ("
                    + ((long) pageCount * pageSize >> 20) + " MiB); open the source with a larger max=");
        }

        released.forEach(free::release);
        List<Extent> result = new ArrayList<>(mappings.size());
        int k = 0;
        for (Mapping mapping : mappings) {
            long position = mapping.start();
            while (k < kept.size() && kept.get(k).start() < mapping.end()) {
                Extent piece = kept.get(k++);
                if (piece.start() > position) {
                    int pages = (int) ((piece.start() - position) / pageSize);
                    int below = guestPageAfter(result, position);
                    int preferred = below >= 0 ? below : piece.firstPage() - pages;
                    allocate(result, position, pages, preferred);
                }
                result.add(piece);
                position = piece.end();
            }
            if (position < mapping.end()) {
                allocate(result, position, (int) ((mapping.end() - position) / pageSize), guestPageAfter(result, position));
            }
        }
        List<Extent> merged = merge(result);
        boolean changed = !merged.equals(extents);
        extents = List.copyOf(merged);
        return new Update(released, changed);
    }

    /** The parts of the current extents still mapped ({@code kept}) and the guest runs of the rest. */
    private void splitByMappings(List<Mapping> mappings, List<Extent> kept, List<FreePageRuns.Run> released) {
        int first = 0;
        for (Extent extent : extents) {
            while (first < mappings.size() && mappings.get(first).end() <= extent.start()) {
                first++;
            }
            long cursor = extent.start();
            for (int m = first; m < mappings.size() && mappings.get(m).start() < extent.end(); m++) {
                long from = Math.max(extent.start(), mappings.get(m).start());
                long to = Math.min(extent.end(), mappings.get(m).end());
                if (from > cursor) {
                    released.add(run(extent, cursor, from));
                }
                kept.add(new Extent(from, to, pageOf(extent, from)));
                cursor = to;
            }
            if (cursor < extent.end()) {
                released.add(run(extent, cursor, extent.end()));
            }
        }
    }

    private void allocate(List<Extent> result, long start, int pages, int preferred) {
        long position = start;
        for (FreePageRuns.Run run : free.take(pages, preferred)) {
            long end = position + (long) run.pages() * pageSize;
            result.add(new Extent(position, end, run.first()));
            position = end;
        }
    }

    /** The guest page following the last extent if it ends exactly at {@code address}, else -1. */
    private int guestPageAfter(List<Extent> result, long address) {
        if (result.isEmpty()) {
            return -1;
        }
        Extent last = result.getLast();
        return last.end() == address ? last.firstPage() + last.pages(pageSize) : -1;
    }

    private List<Extent> merge(List<Extent> sorted) {
        List<Extent> merged = new ArrayList<>(sorted.size());
        for (Extent extent : sorted) {
            if (!merged.isEmpty()) {
                Extent last = merged.getLast();
                if (last.end() == extent.start() && last.firstPage() + last.pages(pageSize) == extent.firstPage()) {
                    merged.set(merged.size() - 1, new Extent(last.start(), extent.end(), last.firstPage()));
                    continue;
                }
            }
            merged.add(extent);
        }
        return merged;
    }

    private FreePageRuns.Run run(Extent extent, long from, long to) {
        return new FreePageRuns.Run(pageOf(extent, from), (int) ((to - from) / pageSize));
    }

    private int pageOf(Extent extent, long address) {
        return extent.firstPage() + (int) ((address - extent.start()) / pageSize);
    }

    private void requireAligned(Mapping mapping) {
        if (mapping.start() % pageSize != 0 || mapping.end() % pageSize != 0) {
            throw new IllegalArgumentException("mapping " + mapping + " is not aligned to " + pageSize + " bytes");
        }
    }
}
