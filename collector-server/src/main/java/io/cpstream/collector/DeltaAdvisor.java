package io.cpstream.collector;

import io.cpstream.encoder.PageEncoding;
import io.cpstream.encoder.StreamDecoder;
import io.cpstream.proto.Feedback;

/**
 * Tells the agent which pages are worth a delta: each received page with a known previous version is judged by the
 * image's {@link StreamDecoder}, and at each commit the changes of verdict go back in a {@code Feedback} (only news,
 * so a steady guest costs nothing). Reset for each new stream: a new stream may be a new agent, which knows no
 * verdicts yet.
 */
final class DeltaAdvisor {

    private final VersionedImage image;

    DeltaAdvisor(VersionedImage image) {
        this.image = image;
    }

    /** A page of an incremental checkpoint was just decoded into {@code image.scratch()}. */
    void observe(int index, PageEncoding encoding) {
        image.decoder().observe(index, encoding, image.lastDeltaRunBytes(), image.version(index), image.page(index),
                image.scratch());
    }

    /** The verdicts that changed since the last call, or null when none did. */
    Feedback drain() {
        StreamDecoder decoder = image.decoder();
        if (!decoder.hasNews()) {
            return null;
        }
        Feedback.Builder message = Feedback.newBuilder();
        for (long page : decoder.drainCandidates()) {
            message.addDeltaCandidates(page);
        }
        for (long page : decoder.drainNotCandidates()) {
            message.addNotCandidates(page);
        }
        return message.build();
    }

    void reset() {
        image.decoder().reset();
    }

    @Override
    public String toString() {
        return "DeltaAdvisor[" + image.pageCount() + " pages]";
    }
}
