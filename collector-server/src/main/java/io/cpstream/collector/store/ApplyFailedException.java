package io.cpstream.collector.store;

import java.io.IOException;

/**
 * A sealed epoch's apply to the image did not finish: the image may hold a mix of two epochs until
 * {@link ImageStore#finishApply()} completes it (or gives the image up to a full sync).
 */
public final class ApplyFailedException extends IOException {

    ApplyFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
