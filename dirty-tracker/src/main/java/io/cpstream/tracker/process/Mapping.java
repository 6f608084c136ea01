package io.cpstream.tracker.process;

/**
 * One line of {@code /proc/PID/maps}: virtual addresses {@code [start, end)}, permissions such as
 * {@code rw-p}, and the backing path (empty for anonymous memory).
 */
record Mapping(long start, long end, String perms, String path) {

    Mapping {
        if (end <= start) {
            throw new IllegalArgumentException("empty mapping " + Long.toHexString(start));
        }
    }

    boolean readable() {
        return perms.charAt(0) == 'r';
    }

    boolean writable() {
        return perms.charAt(1) == 'w';
    }

    boolean shared() {
        return perms.charAt(3) == 's';
    }

    long bytes() {
        return end - start;
    }

    @Override
    public String toString() {
        return Long.toHexString(start) + "-" + Long.toHexString(end) + " " + perms + (path.isEmpty() ? "" : " " + path);
    }
}
