package io.cpstream.tracker.process;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The guest pages no mapping holds, as coalesced runs; hands out runs first-fit or at a preferred page. */
final class FreePageRuns {

    /** A run of guest pages {@code [first, first + pages)}. */
    record Run(int first, int pages) {
    }

    /** first page → length of each free run; runs never touch (they are merged on release). */
    private final TreeMap<Integer, Integer> runs = new TreeMap<>();
    private long free;

    FreePageRuns(int pageCount) {
        if (pageCount > 0) {
            runs.put(0, pageCount);
        }
        free = pageCount;
    }

    long free() {
        return free;
    }

    void release(Run run) {
        int first = run.first();
        int end = first + run.pages();
        Map.Entry<Integer, Integer> below = runs.floorEntry(first);
        if (below != null && below.getKey() + below.getValue() > first) {
            throw new IllegalStateException("guest pages " + run + " released twice");
        }
        Integer aboveLength = runs.get(end);
        if (aboveLength != null) {
            runs.remove(end);
            end += aboveLength;
        }
        if (below != null && below.getKey() + below.getValue() == first) {
            first = below.getKey();
        }
        runs.put(first, end - first);
        free += run.pages();
    }

    /**
     * Takes {@code pages} pages: at {@code preferred} if that many are free there (so a growing mapping
     * stays contiguous), else the first run long enough, else pieces of several runs in page order.
     * The caller checks {@link #free()} first.
     */
    List<Run> take(int pages, int preferred) {
        if (pages > free) {
            throw new IllegalStateException("asked for " + pages + " pages, " + free + " free");
        }
        if (preferred >= 0 && takeAt(preferred, pages)) {
            return List.of(new Run(preferred, pages));
        }
        for (Map.Entry<Integer, Integer> run : runs.entrySet()) {
            if (run.getValue() >= pages) {
                int first = run.getKey();
                takeAt(first, pages);
                return List.of(new Run(first, pages));
            }
        }
        List<Run> pieces = new ArrayList<>();
        int left = pages;
        while (left > 0) {
            Map.Entry<Integer, Integer> run = runs.firstEntry();
            int length = Math.min(left, run.getValue());
            takeAt(run.getKey(), length);
            pieces.add(new Run(run.getKey(), length));
            left -= length;
        }
        return pieces;
    }

    /** Removes {@code [first, first + pages)} if it lies inside one free run. */
    private boolean takeAt(int first, int pages) {
        Map.Entry<Integer, Integer> run = runs.floorEntry(first);
        if (run == null) {
            return false;
        }
        int runFirst = run.getKey();
        int runEnd = runFirst + run.getValue();
        if (first + (long) pages > runEnd) {
            return false;
        }
        runs.remove(runFirst);
        if (first > runFirst) {
            runs.put(runFirst, first - runFirst);
        }
        if (first + pages < runEnd) {
            runs.put(first + pages, runEnd - first - pages);
        }
        free -= pages;
        return true;
    }
}
