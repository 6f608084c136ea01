package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.PageBatchCheck;
import io.cpstream.encoder.PageEncoding;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.Limit;
import io.cpstream.proto.PageBatch;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The columns of a PageBatch as the agent writes them (protocol 5), and how batches are cut. */
class CheckpointMessagesTest {

    private static final int PAGE = 4096;

    private static ByteBuffer bytes(int length, int fill) {
        byte[] bytes = new byte[length];
        java.util.Arrays.fill(bytes, (byte) fill);
        return ByteBuffer.wrap(bytes);
    }

    @Test
    void everyEncodingTakesExactlyItsColumns() {
        CheckpointMessages messages = new CheckpointMessages(PAGE);
        messages.begin(10, 9, false, 1, 1, 5);
        messages.add(3, new EncodedPage(PageEncoding.ZERO, ByteBuffer.allocate(0), 111));
        messages.add(4, new EncodedPage(PageEncoding.FULL, bytes(PAGE, 1), 222));
        messages.add(200, new EncodedPage(PageEncoding.LZ4, bytes(100, 2), 333));
        messages.add(201, new EncodedPage(PageEncoding.DELTA, bytes(7, 3), 444, 8, 0));
        messages.add(5000, new EncodedPage(PageEncoding.DUPLICATE, ByteBuffer.allocate(0), 555, 0, 17));
        messages.add(5001, new EncodedPage(PageEncoding.DELTA_LZ4, bytes(9, 4), 666, 3, 0));
        AgentMessage message = messages.take();
        PageBatch batch = message.getPages();
        assertEquals(10, batch.getEpoch());
        assertEquals(List.of(3L, 0L, 195L, 0L, 4798L, 0L), batch.getIndexGapsList());
        assertEquals(ByteString.copyFrom(new byte[] {1, 2, 3, 4, 5, 6}), batch.getEncodings());
        PageBatchCheck check = new PageBatchCheck();
        for (int crc : new int[] {111, 222, 333, 444, 555, 666}) {
            check.add(crc);
        }
        assertEquals(check.value(), batch.getPagesCheck(), "every page's CRC-32C, the zero page's too, in order");
        assertEquals(List.of(100, 7, 9), batch.getLengthsList());
        assertEquals(List.of(2L, 7L), batch.getBaseLagsList(), "epoch 10 - version 8, epoch 10 - version 3");
        assertEquals(List.of(17L), batch.getSourceIndexesList());
        assertEquals(PAGE + 100 + 7 + 9, batch.getData().size());
        assertEquals(3, batch.getData().byteAt(PAGE + 100));
        assertEquals(4, batch.getData().byteAt(PAGE + 100 + 7));
        assertEquals(message.getSerializedSize() + 5, CheckpointMessages.wireBytes(message));
        // Framing of the six records: 6 encodings, 1+1+2+1+2+1 of gaps, 3 of lengths, 2 lags, 1 source, 9 of check,
        // the fields' tags and lengths; far below a Page message each.
        assertTrue(message.getSerializedSize() - batch.getData().size() < 50, message.getSerializedSize() + " bytes");
    }

    @Test
    void batchesAreCutAtThePayloadLimitAndPagesMustAscend() {
        CheckpointMessages messages = new CheckpointMessages(PAGE);
        messages.begin(2, 1, false, 1, 1, 1000);
        int perBatch = Limit.MAX_PAGE_BATCH_PAYLOAD_BYTES_VALUE / PAGE;
        int batches = 0;
        long pages = 0;
        for (int page = 0; page < 3 * perBatch; page++) {
            EncodedPage record = new EncodedPage(PageEncoding.FULL, bytes(PAGE, page), page);
            if (!messages.fits(record)) {
                PageBatch batch = messages.take().getPages();
                assertTrue(batch.getData().size() <= Limit.MAX_PAGE_BATCH_PAYLOAD_BYTES_VALUE);
                pages += batch.getEncodings().size();
                batches++;
            }
            messages.add(page, record);
        }
        assertFalse(messages.isEmpty());
        PageBatch last = messages.take().getPages();
        pages += last.getEncodings().size();
        assertEquals(3, batches + 1);
        assertEquals(3L * perBatch, pages);
        assertEquals(2 * perBatch, last.getIndexGaps(0), "a batch names its first page absolutely");
        assertEquals((byte) (3 * perBatch - 1), last.getData().byteAt(last.getData().size() - 1),
                "the last batch's bytes are its own, not the previous batch's");
        messages.add(10_000, new EncodedPage(PageEncoding.ZERO, ByteBuffer.allocate(0), 0));
        assertThrows(IllegalArgumentException.class,
                () -> messages.add(9_999, new EncodedPage(PageEncoding.ZERO, ByteBuffer.allocate(0), 0)));
    }
}
