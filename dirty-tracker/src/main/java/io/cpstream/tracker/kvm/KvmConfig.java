package io.cpstream.tracker.kvm;

import io.cpstream.tracker.SourceSpec;
import java.util.Locale;

/**
 * The parameters of a {@code kvm:} source spec, validated.
 *
 * <pre>
 * kvm:guest=counter|kv|memtouch, mem=64m, vcpus=1, dirty=bitmap|ring|pagemap, ring-entries=16384, + guest parameters
 *   counter:  area=16 (pages the counter writes), spin=0 (pause loops between outputs)
 *   kv:       slots=1024 (512-byte table slots)
 *   memtouch: pages=16 (per step), stride=1 (pages), mode=free|commanded
 * </pre>
 */
record KvmConfig(Guest guest, long memBytes, int vcpus, DirtyMode dirty, int ringEntries, long[] guestArgs) {

    static final long MIN_MEM = 4L << 20;
    static final long MAX_MEM = 1L << 30;
    static final long MEM_ALIGN = 2L << 20;

    enum DirtyMode {
        BITMAP(0), RING(1), PAGEMAP(2);

        final int nativeCode;

        DirtyMode(int nativeCode) {
            this.nativeCode = nativeCode;
        }
    }

    static KvmConfig parse(SourceSpec spec) {
        SourceSpec.Reader r = spec.reader();
        Guest guest = Guest.parse(r.string("guest", "counter"));
        long mem = r.bytes("mem", 64L << 20, MIN_MEM, MAX_MEM);
        if (mem % MEM_ALIGN != 0) {
            throw new IllegalArgumentException("kvm source: mem must be a multiple of 2m (guest RAM is mapped with 2 MiB pages)");
        }
        int vcpus = (int) r.integer("vcpus", 1, 1, 4);
        DirtyMode dirty = switch (r.string("dirty", "bitmap").toLowerCase(Locale.ROOT)) {
            case "bitmap" -> DirtyMode.BITMAP;
            case "ring" -> DirtyMode.RING;
            case "pagemap" -> DirtyMode.PAGEMAP;
            default -> throw new IllegalArgumentException("kvm source: dirty must be bitmap, ring or pagemap");
        };
        long ring = r.integer("ring-entries", 16384, 256, 1 << 16);
        if (Long.bitCount(ring) != 1) {
            throw new IllegalArgumentException("kvm source: ring-entries must be a power of two");
        }
        long dataPages = (mem - GuestAbi.DATA_GPA) / GuestAbi.PAGE_SIZE;
        long[] args = switch (guest) {
            case COUNTER -> new long[] {
                r.integer("area", 16, 1, dataPages),
                r.integer("spin", 0, 0, 1_000_000_000L),
            };
            case KV -> new long[] {
                r.integer("slots", 1024, 1, (mem - GuestAbi.DATA_GPA) / GuestAbi.KV_SLOT_BYTES),
            };
            case MEMTOUCH -> new long[] {
                r.integer("pages", 16, 1, dataPages),
                r.integer("stride", 1, 1, dataPages),
                switch (r.string("mode", "free").toLowerCase(Locale.ROOT)) {
                    case "free" -> 0;
                    case "commanded" -> 1;
                    default -> throw new IllegalArgumentException("kvm source: memtouch mode must be free or commanded");
                },
            };
        };
        r.requireAllUsed();
        return new KvmConfig(guest, mem, vcpus, dirty, (int) ring, args);
    }

    /** The guest programs this backend ships. */
    enum Guest {
        COUNTER("counter"), KV("kv"), MEMTOUCH("memtouch");

        final String id;

        Guest(String id) {
            this.id = id;
        }

        static Guest parse(String text) {
            for (Guest g : values()) {
                if (g.id.equals(text)) {
                    return g;
                }
            }
            throw new IllegalArgumentException("kvm source: unknown guest '" + text + "'; known: counter, kv, memtouch");
        }
    }
}
