package io.cpstream.collector;

import io.cpstream.encoder.DeltaCandidateClassifier;
import io.cpstream.encoder.DeltaFeedback;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.proto.Feedback;

/**
 * Tells the agent which pages are worth a delta: each received page with a known previous version is compared
 * with it, and at each commit the changes of verdict go back in a {@code Feedback} (only news, so a steady guest
 * costs nothing). Reset for each new stream: a new stream may be a new agent, which knows no verdicts yet.
 */
final class DeltaAdvisor {

    private final int pageSize;
    private final long pageCount;
    private final DeltaCandidateClassifier classifier;
    private final DeltaFeedback feedback;

    DeltaAdvisor(int pageSize, long pageCount) {
        this.pageSize = pageSize;
        this.pageCount = pageCount;
        this.classifier = new DeltaCandidateClassifier(pageSize);
        this.feedback = new DeltaFeedback(pageCount);
    }

    /**
     * A page of an incremental checkpoint was just decoded into {@code image.scratch()}. A DELTA record tells how
     * much it changed without a second pass; a page known to be rewritten wholesale is compared again only now and
     * then.
     */
    void observe(int index, PageEncoding encoding, VersionedImage image) {
        if (image.version(index) == 0) {
            return; // nothing known to compare with
        }
        if (encoding == PageEncoding.DELTA) {
            feedback.note(index, classifier.classifyDelta(image.lastDeltaRunBytes()));
        } else if (feedback.worthClassifying(index)) {
            feedback.note(index, classifier.classify(image.page(index), image.scratch()));
        }
    }

    /** The verdicts that changed since the last call, or null when none did. */
    Feedback drain() {
        if (!feedback.hasNews()) {
            return null;
        }
        Feedback.Builder message = Feedback.newBuilder();
        for (long page : feedback.drainCandidates()) {
            message.addDeltaCandidates(page);
        }
        for (long page : feedback.drainNotCandidates()) {
            message.addNotCandidates(page);
        }
        return message.build();
    }

    void reset() {
        feedback.reset();
    }

    @Override
    public String toString() {
        return "DeltaAdvisor[" + pageCount + " pages of " + pageSize + "]";
    }
}
