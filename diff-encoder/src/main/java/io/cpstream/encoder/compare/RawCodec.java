package io.cpstream.encoder.compare;

import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.PageChecksums;
import io.cpstream.encoder.PageDecoder;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.encoder.ReceiverPages;

import java.lang.foreign.MemorySegment;

/** Baseline: every dirty page whole, as Remus-style checkpointing sends it. */
public final class RawCodec implements StreamCodec {

    private final PageDecoder decoder;

    public RawCodec(int pageSize) {
        decoder = new PageDecoder(pageSize);
    }

    @Override
    public String name() {
        return "raw";
    }

    @Override
    public EncodedPage encode(long epoch, long page, MemorySegment content) {
        return new EncodedPage(PageEncoding.FULL, content.asReadOnly().asByteBuffer(), PageChecksums.crc32c(content));
    }

    @Override
    public void decode(long epoch, long page, EncodedPage record, ReceiverPages receiver, MemorySegment dst)
            throws CorruptPageException {
        decoder.decode(page, record, receiver, dst);
    }
}
