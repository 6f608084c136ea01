package io.cpstream.collector;

import com.google.protobuf.ByteString;
import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.proto.Limit;
import io.cpstream.proto.PageBatch;
import java.nio.ByteBuffer;

/**
 * The page records of one {@link PageBatch}, read out of its columns (protocol 5, see {@code replication.proto}) and
 * checked whole before a page of it is staged (I5): every record's encoding is known, every column holds exactly as
 * many entries as its records use, every length is at most a page, the payloads add up to exactly the data, every
 * index is in the guest and after the one before it, every base version is before the batch's epoch. Anything else
 * is a protocol violation ({@link StandbyException#invalid}), whatever the records' contents; what a payload
 * decodes to is the decoder's business (a bad one asks for the page whole).
 *
 * <p>One per stream, reused from batch to batch (its arrays hold a batch's worth of records).
 */
final class PageColumns {

    private final int pageSize;
    private final long pageCount;
    private final long[] index = new long[Limit.MAX_PAGES_PER_BATCH_VALUE];
    private final PageEncoding[] encoding = new PageEncoding[Limit.MAX_PAGES_PER_BATCH_VALUE];
    private final long[] baseVersion = new long[Limit.MAX_PAGES_PER_BATCH_VALUE];
    private final long[] sourceIndex = new long[Limit.MAX_PAGES_PER_BATCH_VALUE];
    private final int[] dataStart = new int[Limit.MAX_PAGES_PER_BATCH_VALUE];
    private final int[] dataLength = new int[Limit.MAX_PAGES_PER_BATCH_VALUE];
    private int records;
    private long pagesCheck;
    private ByteString data = ByteString.EMPTY;

    PageColumns(int pageSize, long pageCount) {
        this.pageSize = pageSize;
        this.pageCount = pageCount;
    }

    /**
     * Reads {@code batch} of checkpoint {@code epoch}.
     *
     * @throws StandbyException INVALID_ARGUMENT when the columns do not describe a well-formed batch
     */
    void read(PageBatch batch, long epoch) throws StandbyException {
        records = 0;
        ByteString encodings = batch.getEncodings();
        int n = encodings.size();
        if (n > Limit.MAX_PAGES_PER_BATCH_VALUE) {
            throw StandbyException.invalid("a batch of " + n + " pages exceeds " + Limit.MAX_PAGES_PER_BATCH_VALUE);
        }
        if (batch.getIndexGapsCount() != n) {
            throw StandbyException.invalid("a batch of " + n + " encodings has " + batch.getIndexGapsCount()
                    + " page indexes");
        }
        data = batch.getData();
        if (data.size() > Limit.MAX_PAGE_BATCH_PAYLOAD_BYTES_VALUE) {
            throw StandbyException.invalid("a batch of " + data.size() + " bytes of page data exceeds "
                    + Limit.MAX_PAGE_BATCH_PAYLOAD_BYTES_VALUE);
        }
        int lengths = 0;
        int lags = 0;
        int sources = 0;
        long offset = 0;
        long previous = -1;
        for (int i = 0; i < n; i++) {
            PageEncoding kind;
            try {
                kind = PageEncoding.fromWire(encodings.byteAt(i) & 0xFF);
            } catch (CorruptPageException e) {
                throw StandbyException.invalid("record " + i + " of a batch of epoch " + epoch + ": " + e.getMessage());
            }
            long gap = batch.getIndexGaps(i);
            // index = previous + 1 + gap, within the guest (unsigned: a huge gap is out of range, not negative).
            long room = pageCount - (previous + 1);
            if (Long.compareUnsigned(gap, room) >= 0) {
                throw StandbyException.invalid("epoch " + epoch + " carries page "
                        + (Long.compareUnsigned(gap, Long.MAX_VALUE - previous - 1) > 0 ? "beyond 2^63"
                                : Long.toUnsignedString(previous + 1 + gap)) + "; the guest has " + pageCount);
            }
            long page = previous + 1 + gap;
            previous = page;
            index[i] = page;
            encoding[i] = kind;
            baseVersion[i] = 0;
            sourceIndex[i] = 0;
            int length = 0;
            switch (kind) {
                case FULL -> length = pageSize;
                case LZ4, DELTA, DELTA_LZ4 -> {
                    if (lengths == batch.getLengthsCount()) {
                        throw columnTooShort("lengths", epoch);
                    }
                    int declared = batch.getLengths(lengths++);
                    if (Integer.compareUnsigned(declared, pageSize) > 0) {
                        throw StandbyException.invalid("page " + page + " of epoch " + epoch + " has a payload of "
                                + Integer.toUnsignedString(declared) + " bytes; a page is " + pageSize);
                    }
                    length = declared;
                    if (kind.isDelta()) {
                        if (lags == batch.getBaseLagsCount()) {
                            throw columnTooShort("base_lags", epoch);
                        }
                        long lag = batch.getBaseLags(lags++);
                        if (lag == 0 || Long.compareUnsigned(lag, epoch) >= 0) {
                            throw StandbyException.invalid("page " + page + " of epoch " + epoch + " is a delta "
                                    + Long.toUnsignedString(lag) + " epochs back, which is no earlier epoch");
                        }
                        baseVersion[i] = epoch - lag;
                    }
                }
                case DUPLICATE -> {
                    if (sources == batch.getSourceIndexesCount()) {
                        throw columnTooShort("source_indexes", epoch);
                    }
                    sourceIndex[i] = batch.getSourceIndexes(sources++);
                }
                default -> { }
            }
            if (offset + length > data.size()) {
                throw StandbyException.invalid("the payloads of a batch of epoch " + epoch + " run past its "
                        + data.size() + " bytes of data");
            }
            dataStart[i] = (int) offset;
            dataLength[i] = length;
            offset += length;
        }
        if (lengths != batch.getLengthsCount() || lags != batch.getBaseLagsCount()
                || sources != batch.getSourceIndexesCount() || offset != data.size()) {
            throw StandbyException.invalid("a batch of epoch " + epoch + " has columns its records do not use ("
                    + batch.getLengthsCount() + " lengths, "
                    + batch.getBaseLagsCount() + " base lags, " + batch.getSourceIndexesCount() + " sources, "
                    + data.size() + " bytes of data for " + n + " records)");
        }
        pagesCheck = batch.getPagesCheck();
        records = n;
    }

    private static StandbyException columnTooShort(String column, long epoch) {
        return StandbyException.invalid("a batch of epoch " + epoch + " has too few entries in " + column);
    }

    int records() {
        return records;
    }

    long dataBytes() {
        return data.size();
    }

    long index(int i) {
        return index[i];
    }

    PageEncoding encoding(int i) {
        return encoding[i];
    }

    /** What the CRC-32Cs of the batch's pages must fold to ({@code PageBatchCheck}). */
    long pagesCheck() {
        return pagesCheck;
    }

    long baseVersion(int i) {
        return baseVersion[i];
    }

    long sourceIndex(int i) {
        return sourceIndex[i];
    }

    /** Record {@code i}'s payload, a read-only view of the batch's data. */
    ByteBuffer payload(int i) {
        return dataLength[i] == 0 ? ByteBuffer.allocate(0)
                : data.substring(dataStart[i], dataStart[i] + dataLength[i]).asReadOnlyByteBuffer();
    }
}
