package io.cpstream.encoder.compare;

import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.PageChecksums;
import io.cpstream.encoder.PageDecoder;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.encoder.ReceiverPages;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Factory;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/** Baseline: every dirty page LZ4-compressed on its own, sent whole when LZ4 does not make it smaller. */
public final class Lz4Codec implements StreamCodec {

    private final int pageSize;
    private final LZ4Compressor compressor = LZ4Factory.fastestInstance().fastCompressor();
    private final byte[] page;
    private final byte[] compressed;
    private final PageDecoder decoder;

    public Lz4Codec(int pageSize) {
        this.pageSize = pageSize;
        page = new byte[pageSize];
        compressed = new byte[compressor.maxCompressedLength(pageSize)];
        decoder = new PageDecoder(pageSize);
    }

    @Override
    public String name() {
        return "lz4";
    }

    @Override
    public EncodedPage encode(long epoch, long index, MemorySegment content) {
        int crc = PageChecksums.crc32c(content);
        MemorySegment.copy(content, 0, MemorySegment.ofArray(page), 0, pageSize);
        int length = compressor.compress(page, 0, pageSize, compressed, 0, compressed.length);
        if (length < pageSize) {
            return new EncodedPage(PageEncoding.LZ4, ByteBuffer.wrap(compressed, 0, length), crc);
        }
        return new EncodedPage(PageEncoding.FULL, content.asReadOnly().asByteBuffer(), crc);
    }

    @Override
    public void decode(long epoch, long index, EncodedPage record, ReceiverPages receiver, MemorySegment dst)
            throws CorruptPageException {
        decoder.decode(index, record, receiver, dst);
    }
}
