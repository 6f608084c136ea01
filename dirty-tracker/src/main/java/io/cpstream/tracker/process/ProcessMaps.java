package io.cpstream.tracker.process;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads {@code /proc/PID/maps} and picks the mappings whose contents the process source protects. */
final class ProcessMaps {

    private ProcessMaps() {
    }

    /**
     * The readable, writable mappings of {@code pid} in address order: private ones always, shared ones
     * only if {@code includeShared}. Read-only mappings (code, constants) cannot change without a new
     * mapping, and the kernel's special areas ({@code [vvar]}, {@code [vsyscall]}) are not the
     * process's data.
     */
    static List<Mapping> protectedMappings(int pid, boolean includeShared) {
        List<Mapping> chosen = new ArrayList<>();
        for (Mapping mapping : read(pid)) {
            if (mapping.readable() && mapping.writable() && (includeShared || !mapping.shared())
                    && !mapping.path().startsWith("[v")) {
                chosen.add(mapping);
            }
        }
        return chosen;
    }

    static List<Mapping> read(int pid) {
        List<String> lines;
        try {
            lines = Files.readAllLines(Path.of("/proc", Integer.toString(pid), "maps"));
        } catch (NoSuchFileException e) {
            throw new ProcessGoneException(pid);
        } catch (AccessDeniedException e) {
            throw new IllegalArgumentException("no permission to read /proc/" + pid + "/maps: protecting a process "
                    + "needs ptrace-level access (run as root, or as its user with ptrace_scope 0)", e);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc/" + pid + "/maps: " + e.getMessage(), e);
        }
        List<Mapping> mappings = new ArrayList<>(lines.size());
        for (String line : lines) {
            mappings.add(parse(line));
        }
        return mappings;
    }

    /** {@code start-end perms offset dev inode [path]}; the path may contain spaces. */
    static Mapping parse(String line) {
        String[] fields = line.trim().split("\\s+", 6);
        if (fields.length < 5) {
            throw new IllegalArgumentException("unexpected /proc/PID/maps line: " + line);
        }
        int dash = fields[0].indexOf('-');
        long start = Long.parseUnsignedLong(fields[0].substring(0, dash), 16);
        long end = Long.parseUnsignedLong(fields[0].substring(dash + 1), 16);
        return new Mapping(start, end, fields[1], fields.length == 6 ? fields[5] : "");
    }
}
