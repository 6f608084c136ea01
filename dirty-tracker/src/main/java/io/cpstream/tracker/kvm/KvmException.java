package io.cpstream.tracker.kvm;

/** A failure of the KVM backend, carrying the shim's explanation (which ioctl, which vCPU, why). */
public final class KvmException extends RuntimeException {

    public KvmException(String message) {
        super(message);
    }

    public KvmException(String message, Throwable cause) {
        super(message, cause);
    }
}
