package io.cpstream.tracker.process;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.locks.LockSupport;

/**
 * Stops and continues a whole process with SIGSTOP / SIGCONT. {@code kill} only queues the stop:
 * every thread must still reach the kernel's signal handling, so {@link #stop} waits until each
 * thread in {@code /proc/PID/task} reports state {@code T} (stopped) or {@code t} (traced).
 */
final class ProcessStopper {

    private static final int SPINS_BEFORE_SLEEPING = 200;
    private static final long POLL_NANOS = 20_000;

    private ProcessStopper() {
    }

    /** Sends SIGSTOP and returns once every thread is stopped; on timeout resumes the process and fails. */
    static void stop(int pid, Duration timeout) {
        signal(pid, Libc.SIGSTOP);
        long deadline = System.nanoTime() + timeout.toNanos();
        for (int attempt = 0; !allThreadsStopped(pid); attempt++) {
            if (System.nanoTime() > deadline) {
                signal(pid, Libc.SIGCONT);
                throw new IllegalStateException("process " + pid + " did not stop within " + timeout.toMillis()
                        + " ms of SIGSTOP (a thread stuck in uninterruptible sleep?); it was resumed");
            }
            if (attempt < SPINS_BEFORE_SLEEPING) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(POLL_NANOS);
            }
        }
    }

    static void resume(int pid) {
        signal(pid, Libc.SIGCONT);
    }

    private static void signal(int pid, int signal) {
        try {
            Libc.kill(pid, signal);
        } catch (Libc.ErrnoException e) {
            if (e.errno() == Libc.ESRCH) {
                throw new ProcessGoneException(pid);
            }
            throw e;
        }
    }

    static boolean allThreadsStopped(int pid) {
        Path tasks = Path.of("/proc", Integer.toString(pid), "task");
        try (DirectoryStream<Path> threads = Files.newDirectoryStream(tasks)) {
            for (Path thread : threads) {
                char state = state(thread.resolve("stat"));
                if (state == 'Z' || state == 'X') {
                    if (thread.getFileName().toString().equals(Integer.toString(pid))) {
                        throw new ProcessGoneException(pid);
                    }
                    continue; // an exiting thread writes no more memory
                }
                if (state != 'T' && state != 't' && state != '?') {
                    return false;
                }
            }
            return true;
        } catch (NoSuchFileException e) {
            throw new ProcessGoneException(pid);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + tasks + ": " + e.getMessage(), e);
        }
    }

    /** The state letter of a {@code stat} file: the field after the command name, which is in parentheses and may contain anything. */
    private static char state(Path stat) throws IOException {
        String text;
        try {
            text = new String(Files.readAllBytes(stat), StandardCharsets.ISO_8859_1);
        } catch (NoSuchFileException e) {
            return '?'; // the thread exited between listing and reading
        }
        int close = text.lastIndexOf(')');
        if (close < 0 || close + 2 >= text.length()) {
            throw new IOException("unexpected contents of " + stat);
        }
        return text.charAt(close + 2);
    }
}
