package io.cpstream.tracker.process;

/** The protected process exited (or was never there). */
public final class ProcessGoneException extends RuntimeException {

    public ProcessGoneException(int pid) {
        super("process " + pid + " does not exist (it exited?)");
    }
}
