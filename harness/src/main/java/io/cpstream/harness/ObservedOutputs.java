package io.cpstream.harness;

import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.OutputTap;
import java.io.PrintStream;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a guest's output stream looked like, kept small: the first outputs, the last output of every
 * epoch, and a count. Enough to say which output ended epoch N and which one a restored VM emitted first.
 * Optionally prints every output as it arrives.
 */
public final class ObservedOutputs implements OutputTap.Listener {

    private static final int FIRST_KEPT = 16;

    private final PrintStream echo;
    private final List<GuestOutput> first = new java.util.ArrayList<>();
    private final TreeMap<Long, GuestOutput> lastOfEpoch = new TreeMap<>();
    private long count;
    private GuestOutput last;

    /** @param echo where to print each output as it arrives, or null */
    public ObservedOutputs(PrintStream echo) {
        this.echo = echo;
    }

    @Override
    public synchronized void onOutputs(long epoch, List<GuestOutput> outputs) {
        for (GuestOutput output : outputs) {
            if (first.size() < FIRST_KEPT) {
                first.add(output);
            }
            if (echo != null) {
                echo.printf("output %d: %s%n", output.index(), render(output));
            }
        }
        if (!outputs.isEmpty()) {
            count += outputs.size();
            last = outputs.getLast();
            lastOfEpoch.put(epoch, last);
        }
    }

    public synchronized long count() {
        return count;
    }

    /** The first output seen, or null. */
    public synchronized GuestOutput first() {
        return first.isEmpty() ? null : first.getFirst();
    }

    public synchronized GuestOutput last() {
        return last;
    }

    /** The epoch of the latest output, or 0 if there was none. */
    public synchronized long lastEpoch() {
        return lastOfEpoch.isEmpty() ? 0 : lastOfEpoch.lastKey();
    }

    /** The last output emitted before stun {@code epoch}, or null if there was none. */
    public synchronized GuestOutput lastUpTo(long epoch) {
        Map.Entry<Long, GuestOutput> entry = lastOfEpoch.floorEntry(epoch);
        return entry == null ? null : entry.getValue();
    }

    /** An output's payload the way a person reads it: a number for the 8-byte records counters emit, else hex. */
    public static String render(GuestOutput output) {
        byte[] payload = output.payload();
        return payload.length == Long.BYTES ? Long.toString(output.longValue()) : HexFormat.of().formatHex(payload);
    }

    /** An output as a JSON object (index, epoch, value), or null. */
    public static Map<String, Object> describe(GuestOutput output) {
        if (output == null) {
            return null;
        }
        Map<String, Object> described = new LinkedHashMap<>();
        described.put("index", output.index());
        described.put("value", render(output));
        return described;
    }

    /**
     * Whether {@code next} is the output that follows {@code previous} in one continuous stream: the next
     * index and, for numeric records, the next number. With no previous output, {@code next} must be the
     * stream's first.
     */
    public static boolean continues(GuestOutput previous, GuestOutput next) {
        if (next == null) {
            return false;
        }
        if (previous == null) {
            return next.index() == 0;
        }
        if (next.index() != previous.index() + 1) {
            return false;
        }
        boolean numeric = previous.payload().length == Long.BYTES && next.payload().length == Long.BYTES;
        return !numeric || next.longValue() == previous.longValue() + 1;
    }
}
