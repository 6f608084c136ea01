package io.cpstream.tracker.kvm;

import io.cpstream.tracker.SourceSpec;
import java.util.Locale;

/**
 * The parameters of a {@code kvm:} or {@code emu:} source spec, validated.
 *
 * <pre>
 * kvm:guest=counter|kv|memtouch, mem=64m, vcpus=1, dirty=bitmap|ring|pagemap, ring-entries=16384, + guest parameters
 * emu:guest=counter|kv|memtouch, mem=64m, + guest parameters (one emulated vCPU, dirty pages by pagemap)
 *   counter:  area=16 (pages the counter writes), spin=0 (pause loops between outputs)
 *   kv:       slots=1024 (512-byte table slots), load=0 (requests per second a client in this process sends a booted
 *             guest: {@link KvLoad}; a restored guest gets none)
 *   memtouch: pages=16 (per step), stride=1 (pages), mode=free|commanded
 * </pre>
 */
record KvmConfig(Backend backend, Guest guest, long memBytes, int vcpus, DirtyMode dirty, int ringEntries,
                 long[] guestArgs, int kvLoad) {

    /** What runs the guest's CPU: KVM, or Unicorn's emulator (the same guests, ports and channels). */
    enum Backend {
        KVM("kvm"), EMU("emu");

        final String id;

        Backend(String id) {
            this.id = id;
        }

        static Backend of(String kind) {
            for (Backend b : values()) {
                if (b.id.equals(kind)) {
                    return b;
                }
            }
            throw new IllegalArgumentException("not a guest VM source kind: " + kind + " (kvm or emu)");
        }
    }

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
        Backend backend = Backend.of(spec.kind());
        String what = backend.id + " source: ";
        SourceSpec.Reader r = spec.reader();
        Guest guest = Guest.parse(backend, r.string("guest", "counter"));
        long mem = r.bytes("mem", 64L << 20, MIN_MEM, MAX_MEM);
        if (mem % MEM_ALIGN != 0) {
            throw new IllegalArgumentException(what + "mem must be a multiple of 2m (guest RAM is mapped with 2 MiB pages)");
        }
        int vcpus = 1;
        DirtyMode dirty = DirtyMode.PAGEMAP;
        long ring = 16384;
        if (backend == Backend.KVM) {
            vcpus = (int) r.integer("vcpus", 1, 1, 4);
            dirty = switch (r.string("dirty", "bitmap").toLowerCase(Locale.ROOT)) {
                case "bitmap" -> DirtyMode.BITMAP;
                case "ring" -> DirtyMode.RING;
                case "pagemap" -> DirtyMode.PAGEMAP;
                default -> throw new IllegalArgumentException(what + "dirty must be bitmap, ring or pagemap");
            };
            ring = r.integer("ring-entries", 16384, 256, 1 << 16);
            if (Long.bitCount(ring) != 1) {
                throw new IllegalArgumentException(what + "ring-entries must be a power of two");
            }
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
                    default -> throw new IllegalArgumentException(what + "memtouch mode must be free or commanded");
                },
            };
        };
        int load = guest == Guest.KV ? (int) r.integer("load", 0, 0, 100_000) : 0;
        r.requireAllUsed();
        return new KvmConfig(backend, guest, mem, vcpus, dirty, (int) ring, args, load);
    }

    /** The guest programs this backend ships. */
    enum Guest {
        COUNTER("counter"), KV("kv"), MEMTOUCH("memtouch");

        final String id;

        Guest(String id) {
            this.id = id;
        }

        static Guest parse(Backend backend, String text) {
            for (Guest g : values()) {
                if (g.id.equals(text)) {
                    return g;
                }
            }
            throw new IllegalArgumentException(backend.id + " source: unknown guest '" + text
                    + "'; known: counter, kv, memtouch");
        }
    }
}
