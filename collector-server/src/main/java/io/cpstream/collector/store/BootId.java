package io.cpstream.collector.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The kernel's id of the current boot of this host (Linux: {@code /proc/sys/kernel/random/boot_id}). A standby
 * written without forcing anything records it, so that, opened after a crash of the host, it knows its files may
 * hold whatever the kernel had written back by then.
 */
final class BootId {

    private static final Path FILE = Path.of("/proc/sys/kernel/random/boot_id");

    private BootId() {
    }

    /** The current boot id, or null where the system does not tell (then no host crash can be detected). */
    static String current() {
        try {
            return Files.readString(FILE).strip();
        } catch (IOException | SecurityException e) {
            return null;
        }
    }
}
