package io.cpstream.tracker.kvm;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The numbers of the guest/VMM contract that Java needs, mirrored from src/main/c/abi/cpskvm_abi.h,
 * and the guest images shipped as resources.
 */
public final class GuestAbi {

    public static final int PAGE_SIZE = 4096;
    /** Guest-physical start of the guests' working memory (memtouch's region, the counter area, the kv table). */
    public static final long DATA_GPA = 0x200000;
    /** Guest-physical address of the first byte of the guest image. */
    public static final long IMAGE_GPA = 0x100000;
    public static final int RECORD_MAX = 1024;
    /** The output port: an OUT of a record's guest-physical address emits that record. */
    public static final int PORT_OUTPUT = 0x500;
    static final long KV_SLOT_BYTES = 512;

    private GuestAbi() {
    }

    /** The first data-region page, as a page index of guest RAM. */
    public static int firstDataPage() {
        return (int) (DATA_GPA / PAGE_SIZE);
    }

    static byte[] image(KvmConfig.Guest guest) {
        String resource = "guests/" + guest.id + ".bin";
        try (InputStream in = GuestAbi.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new KvmException("guest image " + resource + " is missing: the module was built without its native part");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("reading guest image " + resource, e);
        }
    }
}
