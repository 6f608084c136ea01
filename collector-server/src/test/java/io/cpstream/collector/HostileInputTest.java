package io.cpstream.collector;

import static io.cpstream.collector.RawAgent.batch;
import static io.cpstream.collector.RawAgent.begin;
import static io.cpstream.collector.RawAgent.filled;
import static io.cpstream.collector.RawAgent.hello;
import static io.cpstream.collector.RawAgent.incremental;
import static io.cpstream.collector.RawAgent.page;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.cpstream.encoder.EncodedPage;
import io.cpstream.encoder.PageChecksums;
import io.cpstream.encoder.PageEncoder;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CheckpointBegin;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.PageEncoding;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.Status;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariant I5 and I4: malformed, out-of-range and corrupted messages get a clear status (or a resync
 * for a corrupted page) and the committed standby stays exactly as it was.
 */
class HostileInputTest {

    private static final int PAGES = 16;

    @TempDir
    Path dataDir;

    private TestCollector collector;

    @BeforeEach
    void start() throws Exception {
        collector = new TestCollector(dataDir);
    }

    @AfterEach
    void stop() {
        collector.close();
    }

    /** Commits one full epoch of pages filled with {@code fill}; returns the open stream. */
    private RawAgent commitFullEpoch(String vm, long epoch, byte fill) {
        RawAgent stream = collector.agent().send(hello(vm, PAGES)).send(begin(epoch, true, PAGES));
        for (int i = 0; i < PAGES; i++) {
            stream.send(batch(epoch, page(i, fill)));
        }
        stream.sendCommit(epoch, PAGES);
        await().atMost(Duration.ofSeconds(30)).until(() -> stream.received.stream().anyMatch(m -> m.hasAck()));
        return stream;
    }

    private long committedEpoch(String vm) {
        return collector.committedEpoch(vm);
    }

    @Test
    void firstMessageMustBeHello() throws Exception {
        Status status = collector.agent().send(begin(1, true, 1)).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode());
        assertTrue(status.getDescription().contains("must be hello"), status.getDescription());
    }

    @Test
    void helloIsValidated() throws Exception {
        assertEquals(Status.Code.INVALID_ARGUMENT, collector.agent().send(hello("../etc", 4)).awaitClosed().getCode());
        assertEquals(Status.Code.INVALID_ARGUMENT, collector.agent().send(hello("vm", 0)).awaitClosed().getCode());
        Status huge = collector.agent().send(hello("vm", 1L << 40)).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, huge.getCode());
        assertTrue(huge.getDescription().contains("pages"), huge.getDescription());
    }

    @Test
    void outOfRangeAndDuplicatePagesCloseTheStreamAndLeaveTheStandbyAlone() throws Exception {
        commitFullEpoch("vm", 1, (byte) 1).out.onCompleted();
        byte[] before = java.nio.file.Files.readAllBytes(dataDir.resolve("vms/vm/image.mem"));

        Status outOfRange = collector.agent().send(hello("vm", PAGES)).send(begin(2, false, 2).toBuilder()
                .setBegin(CheckpointBegin.newBuilder().setEpoch(2).setBaseEpoch(1).setPageCount(2)).build())
                .send(batch(2, page(PAGES, (byte) 9))).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, outOfRange.getCode());
        assertTrue(outOfRange.getDescription().contains("page " + PAGES), outOfRange.getDescription());

        // The agent lineage differs from the stream that built the image only if it says so; reuse it.
        Status duplicate = collector.agent().send(hello("vm", PAGES)).send(AgentMessage.newBuilder()
                .setBegin(CheckpointBegin.newBuilder().setEpoch(3).setBaseEpoch(1).setPageCount(2)).build())
                .send(batch(3, page(0, (byte) 7))).send(batch(3, page(0, (byte) 7))).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, duplicate.getCode());

        Status wrongCount = collector.agent().send(hello("vm", PAGES)).send(AgentMessage.newBuilder()
                .setBegin(CheckpointBegin.newBuilder().setEpoch(4).setBaseEpoch(1).setPageCount(1)).build())
                .send(batch(4, page(0, (byte) 7))).sendCommit(4, 2).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, wrongCount.getCode());

        assertEquals(1, committedEpoch("vm"));
        assertTrue(java.util.Arrays.equals(before, java.nio.file.Files.readAllBytes(dataDir.resolve("vms/vm/image.mem"))),
                "the committed image is untouched");
    }

    /**
     * Bytes that do not parse as an AgentMessage (the stream's requests go through {@link AliasingMarshaller},
     * not gRPC's stock parser) end the stream, mid-checkpoint, with INVALID_ARGUMENT (gRPC itself would say UNKNOWN,
     * "Application error processing RPC", for a request that fails to parse), and the committed image stays.
     */
    @Test
    void bytesThatAreNoMessageCloseTheStreamAndLeaveTheStandbyAlone() throws Exception {
        commitFullEpoch("vm", 1, (byte) 1).out.onCompleted();
        byte[] before = java.nio.file.Files.readAllBytes(dataDir.resolve("vms/vm/image.mem"));
        byte[] truncated = batch(2, page(3, (byte) 9)).toByteArray();
        truncated = java.util.Arrays.copyOf(truncated, truncated.length - 100);
        byte[] badTag = {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff};

        for (byte[] garbage : List.of(truncated, badTag)) {
            Status status = rawBytesStream(List.of(hello("vm", PAGES).toByteArray(), AgentMessage.newBuilder()
                    .setBegin(CheckpointBegin.newBuilder().setEpoch(2).setBaseEpoch(1).setPageCount(1)).build()
                    .toByteArray(), garbage));
            assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), String.valueOf(status));
        }

        assertEquals(1, committedEpoch("vm"));
        assertTrue(java.util.Arrays.equals(before, java.nio.file.Files.readAllBytes(dataDir.resolve("vms/vm/image.mem"))),
                "the committed image is untouched");
        // The collector still serves the VM: the next epoch commits on top of the old one.
        RawAgent next = collector.agent().send(hello("vm", PAGES)).send(AgentMessage.newBuilder()
                .setBegin(CheckpointBegin.newBuilder().setEpoch(2).setBaseEpoch(1).setPageCount(1)).build())
                .send(batch(2, page(3, (byte) 9))).sendCommit(2, 1);
        await().atMost(Duration.ofSeconds(30)).until(() -> committedEpoch("vm") == 2);
        next.out.onCompleted();
    }

    /** Sends each of {@code messages} as the raw bytes of one request on the replication stream; its end status. */
    private Status rawBytesStream(List<byte[]> messages) throws Exception {
        io.grpc.MethodDescriptor.Marshaller<byte[]> bytes = new io.grpc.MethodDescriptor.Marshaller<>() {
            @Override
            public java.io.InputStream stream(byte[] value) {
                return new java.io.ByteArrayInputStream(value);
            }

            @Override
            public byte[] parse(java.io.InputStream stream) {
                try {
                    return stream.readAllBytes();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        };
        CompletableFuture<Status> closed = new CompletableFuture<>();
        io.grpc.ClientCall<byte[], byte[]> call = collector.channel().newCall(
                ReplicationGrpc.getStreamMethod().toBuilder(bytes, bytes).build(), io.grpc.CallOptions.DEFAULT);
        call.start(new io.grpc.ClientCall.Listener<>() {
            @Override
            public void onClose(Status status, io.grpc.Metadata trailers) {
                closed.complete(status);
            }
        }, new io.grpc.Metadata());
        call.request(Integer.MAX_VALUE);
        for (byte[] message : messages) {
            call.sendMessage(message);
        }
        return closed.get(30, TimeUnit.SECONDS);
    }

    @Test
    void corruptedPageIsNeverAppliedAndTriggersResync() throws Exception {
        RawAgent stream = commitFullEpoch("vm", 1, (byte) 1);
        RawAgent.Rec corrupt = page(3, (byte) 5).withCrc32c(12345);
        stream.send(AgentMessage.newBuilder().setBegin(CheckpointBegin.newBuilder().setEpoch(2).setBaseEpoch(1)
                .setPageCount(1)).build()).send(batch(2, corrupt)).sendCommit(2, 1);
        await().atMost(Duration.ofSeconds(30)).until(() -> stream.received.stream().anyMatch(CollectorMessage::hasResync));
        CollectorMessage resync = stream.received.stream().filter(CollectorMessage::hasResync).findFirst().orElseThrow();
        assertEquals(1, resync.getResync().getCommittedEpoch());
        assertEquals(List.of(3L), resync.getResync().getPagesList());
        assertEquals(1, committedEpoch("vm"));

        // The resend on the right base commits.
        stream.send(AgentMessage.newBuilder().setBegin(CheckpointBegin.newBuilder().setEpoch(3).setBaseEpoch(1)
                .setPageCount(1)).build()).send(batch(3, page(3, (byte) 5))).sendCommit(3, 1);
        await().atMost(Duration.ofSeconds(30)).until(() -> committedEpoch("vm") == 3);
    }


    /**
     * A batch is checked as a whole (protocol 5): when the pages it rebuilds do not fold to its check, whether one page
     * is wrong or the check itself, none of them is applied, the checkpoint goes, and every page of the batch is
     * asked for whole.
     */
    @Test
    void aBatchWhosePagesDoNotFoldToItsCheckIsDroppedWholeAndItsPagesAskedForWhole() throws Exception {
        RawAgent stream = commitFullEpoch("vm", 1, (byte) 1);
        byte[] before = imageFile();

        AgentMessage good = batch(2, page(1, (byte) 3), page(2, (byte) 4), delta(4, (byte) 1, (byte) 9, 1));
        AgentMessage wrongCheck = good.toBuilder().setPages(good.getPages().toBuilder()
                .setPagesCheck(good.getPages().getPagesCheck() ^ 1L << 40)).build();
        stream.send(incremental(2, 1, 3)).send(wrongCheck).sendCommit(2, 3);
        CollectorMessage refused = awaitResync(stream);
        assertEquals(List.of(1L, 2L, 4L), refused.getResync().getPagesList());
        assertTrue(refused.getResync().getReason().contains("checksum mismatch"), refused.getResync().getReason());

        stream.send(incremental(3, 1, 3)).send(batch(3, page(1, (byte) 3), page(2, (byte) 4).withCrc32c(77),
                delta(4, (byte) 1, (byte) 9, 1))).sendCommit(3, 3);
        assertEquals(List.of(1L, 2L, 4L), awaitResync(stream).getResync().getPagesList());
        assertEquals(1, committedEpoch("vm"));
        assertTrue(java.util.Arrays.equals(before, imageFile()), "the committed image is untouched");

        stream.send(incremental(4, 1, 3)).send(batch(4, page(1, (byte) 3), page(2, (byte) 4),
                delta(4, (byte) 1, (byte) 9, 1))).sendCommit(4, 3);
        await().atMost(Duration.ofSeconds(30)).until(() -> committedEpoch("vm") == 4);
        byte[] after = imageFile();
        assertEquals(3, after[4096]);
        assertEquals(4, after[2 * 4096]);
        assertEquals(9, after[4 * 4096 + 100]);
    }

    /** A DELTA_LZ4 record (runs compressed) applies as its DELTA would; the same bytes as a plain DELTA do not. */
    @Test
    void compressedDeltasApplyAndAreNotTakenForPlainOnes() throws Exception {
        RawAgent stream = commitFullEpoch("vm", 1, (byte) 1);
        byte[] target = filled((byte) 1);
        java.util.Arrays.fill(target, 1000, 1400, (byte) 7); // 400 equal bytes: runs that LZ4 shrinks
        EncodedPage record = new PageEncoder().encode(MemorySegment.ofArray(target), MemorySegment.ofArray(filled((byte) 1)),
                1);
        assertEquals(io.cpstream.encoder.PageEncoding.DELTA_LZ4, record.encoding());
        RawAgent.Rec compressed = new RawAgent.Rec(5, PageEncoding.PAGE_DELTA_LZ4, ByteString.copyFrom(record.payload()),
                record.crc32c(), 1, 0);
        RawAgent.Rec misnamed = new RawAgent.Rec(5, PageEncoding.PAGE_DELTA, compressed.data(), record.crc32c(), 1, 0);
        stream.send(incremental(2, 1, 1)).send(batch(2, misnamed)).sendCommit(2, 1);
        assertEquals(List.of(5L), awaitResync(stream).getResync().getPagesList());
        stream.send(incremental(3, 1, 1)).send(batch(3, compressed)).sendCommit(3, 1);
        await().atMost(Duration.ofSeconds(30)).until(() -> committedEpoch("vm") == 3);
        assertEquals(7, imageFile()[5 * 4096 + 1399]);
    }

    /** A DELTA record turning a page of {@code from} bytes into one of {@code from} with byte 100 set to {@code to}. */
    private static RawAgent.Rec delta(long index, byte from, byte to, long baseVersion) {
        byte[] target = filled(from);
        target[100] = to;
        EncodedPage record = new PageEncoder().encode(MemorySegment.ofArray(target), MemorySegment.ofArray(filled(from)),
                baseVersion);
        assertEquals(io.cpstream.encoder.PageEncoding.DELTA, record.encoding());
        return new RawAgent.Rec(index, PageEncoding.PAGE_DELTA, ByteString.copyFrom(record.payload()), record.crc32c(),
                record.baseVersion(), 0);
    }


    private static CollectorMessage awaitResync(RawAgent stream) {
        return stream.awaitAnswer(CollectorMessage::hasResync);
    }

    private byte[] imageFile() throws Exception {
        return java.nio.file.Files.readAllBytes(dataDir.resolve("vms/vm/image.mem"));
    }

    @Test
    void deltasApplyOnlyAgainstTheExactVersionTheCollectorHolds() throws Exception {
        RawAgent stream = commitFullEpoch("vm", 1, (byte) 1);
        byte[] before = imageFile();

        // Against a version the page does not have: refused, asked for whole, nothing applied.
        stream.send(incremental(9, 1, 1)).send(batch(9, delta(3, (byte) 1, (byte) 9, 7))).sendCommit(9, 1);
        CollectorMessage refused = awaitResync(stream);
        assertEquals(List.of(3L), refused.getResync().getPagesList());
        assertTrue(refused.getResync().getReason().contains("version 7"), refused.getResync().getReason());
        assertEquals(1, committedEpoch("vm"));
        assertTrue(java.util.Arrays.equals(before, imageFile()), "the committed image is untouched");

        // Against the version it has: applies.
        stream.send(incremental(3, 1, 1)).send(batch(3, delta(3, (byte) 1, (byte) 9, 1))).sendCommit(3, 1);
        await().atMost(Duration.ofSeconds(30)).until(() -> committedEpoch("vm") == 3);
        assertEquals(9, imageFile()[3 * 4096 + 100]);

        // Page 3 is now version 3: a delta against version 1 is stale.
        stream.send(incremental(4, 3, 1)).send(batch(4, delta(3, (byte) 1, (byte) 8, 1))).sendCommit(4, 1);
        assertEquals(List.of(3L), awaitResync(stream).getResync().getPagesList());
        assertEquals(3, committedEpoch("vm"));
    }

    @Test
    void afterARestartTheCollectorRefusesDeltasAgainstVersionsItCannotVouchFor() throws Exception {
        commitFullEpoch("vm", 1, (byte) 1).out.onCompleted();
        collector.restart();

        RawAgent stream = collector.agent().send(hello("vm", PAGES));
        await().atMost(Duration.ofSeconds(30)).until(() -> stream.received.stream().anyMatch(CollectorMessage::hasWelcome));
        CollectorMessage welcome = stream.received.stream().filter(CollectorMessage::hasWelcome).findFirst().orElseThrow();
        assertEquals(1, welcome.getWelcome().getPageVersionsAfter(), "the agent must drop its bases of epoch 1");
        stream.received.clear();

        byte[] before = imageFile();
        stream.send(incremental(2, 1, 1)).send(batch(2, delta(5, (byte) 1, (byte) 9, 1))).sendCommit(2, 1);
        CollectorMessage refused = awaitResync(stream);
        assertEquals(List.of(5L), refused.getResync().getPagesList());
        assertTrue(java.util.Arrays.equals(before, imageFile()), "the committed image is untouched");

        // Whole, it commits; from then on the collector knows page 5 is version 3 and a delta against it applies.
        stream.send(incremental(3, 1, 1)).send(batch(3, page(5, (byte) 1))).sendCommit(3, 1);
        await().atMost(Duration.ofSeconds(30)).until(() -> committedEpoch("vm") == 3);
        stream.send(incremental(4, 3, 1)).send(batch(4, delta(5, (byte) 1, (byte) 9, 3))).sendCommit(4, 1);
        await().atMost(Duration.ofSeconds(30)).until(() -> committedEpoch("vm") == 4);
        assertEquals(9, imageFile()[5 * 4096 + 100]);
    }

    @Test
    void duplicatesReferToTheCommittedImageAndMustMatchTheirChecksum() throws Exception {
        RawAgent stream = commitFullEpoch("vm", 1, (byte) 1);
        // Page 2 is rewritten in this checkpoint, yet page 6 duplicates page 2 as committed (all ones).
        RawAgent.Rec duplicate = new RawAgent.Rec(6, PageEncoding.PAGE_DUPLICATE, ByteString.EMPTY,
                PageChecksums.crc32c(MemorySegment.ofArray(filled((byte) 1))), 0, 2);
        stream.send(incremental(2, 1, 2)).send(batch(2, page(2, (byte) 4), duplicate)).sendCommit(2, 2);
        await().atMost(Duration.ofSeconds(30)).until(() -> committedEpoch("vm") == 2);
        assertEquals(1, imageFile()[6 * 4096]);
        assertEquals(4, imageFile()[2 * 4096]);

        // A duplicate whose source does not hold the bytes its checksum describes is refused.
        RawAgent.Rec wrong = duplicate.withSourceIndex(2); // page 2 now holds fours
        stream.send(incremental(3, 2, 1)).send(batch(3, wrong)).sendCommit(3, 1);
        assertEquals(List.of(6L), awaitResync(stream).getResync().getPagesList());
        RawAgent.Rec outOfRange = duplicate.withSourceIndex(PAGES + 5);
        stream.send(incremental(4, 2, 1)).send(batch(4, outOfRange)).sendCommit(4, 1);
        assertEquals(List.of(6L), awaitResync(stream).getResync().getPagesList());
        assertEquals(2, committedEpoch("vm"));
    }

    /**
     * Protocol 5's columns: a batch whose columns do not describe its records exactly is refused whole, before a
     * page of it is staged, and the committed image stays.
     */
    @Test
    void batchesWhoseColumnsDoNotAddUpCloseTheStreamAndLeaveTheStandbyAlone() throws Exception {
        commitFullEpoch("vm", 1, (byte) 1).out.onCompleted();
        byte[] before = imageFile();
        io.cpstream.proto.PageBatch good = batch(2, page(1, (byte) 3), delta(4, (byte) 1, (byte) 9, 1)).getPages();
        java.util.Map<String, io.cpstream.proto.PageBatch> hostile = new java.util.LinkedHashMap<>();
        hostile.put("a length short", good.toBuilder().clearLengths().build());
        hostile.put("a length past the page", good.toBuilder().setLengths(0, 4097).build());
        hostile.put("a length past the data", good.toBuilder().setLengths(0, good.getLengths(0) + 1).build());
        hostile.put("a byte of data too many", good.toBuilder().setData(good.getData().concat(ByteString.copyFrom(
                new byte[1]))).build());
        hostile.put("a base lag short", good.toBuilder().clearBaseLags().build());
        hostile.put("a base lag of zero", good.toBuilder().setBaseLags(0, 0).build());
        hostile.put("a base lag past epoch 0", good.toBuilder().setBaseLags(0, 2).build());
        hostile.put("a source index too many", good.toBuilder().addSourceIndexes(1).build());
        hostile.put("an index gap short", good.toBuilder().clearIndexGaps().addIndexGaps(1).build());
        hostile.put("an index past the guest", good.toBuilder().setIndexGaps(1, PAGES - 2).build());
        hostile.put("an index gap of 2^64 - 1", good.toBuilder().setIndexGaps(1, -1L).build());
        hostile.put("an unknown encoding", good.toBuilder().setEncodings(ByteString.copyFrom(new byte[] {2, 9})).build());
        hostile.put("encoding 0", good.toBuilder().setEncodings(ByteString.copyFrom(new byte[] {0, 4})).build());
        for (var entry : hostile.entrySet()) {
            Status status = collector.agent().send(hello("vm", PAGES)).send(incremental(2, 1, 2))
                    .send(AgentMessage.newBuilder().setPages(entry.getValue()).build()).awaitClosed();
            assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), entry.getKey() + ": " + status);
            assertEquals(1, committedEpoch("vm"), entry.getKey());
            assertTrue(java.util.Arrays.equals(before, imageFile()), entry.getKey() + ": the committed image is untouched");
        }
        // The same batch, well formed, commits: the refusals were the columns', not the records'.
        RawAgent stream = collector.agent().send(hello("vm", PAGES)).send(incremental(2, 1, 2))
                .send(AgentMessage.newBuilder().setPages(good).build()).sendCommit(2, 2);
        await().atMost(Duration.ofSeconds(30)).until(() -> committedEpoch("vm") == 2);
        assertEquals(3, imageFile()[4096]);
        assertEquals(9, imageFile()[4 * 4096 + 100]);
        stream.out.onCompleted();
    }

    @Test
    void aFullCheckpointMustNotDependOnTheStandby() throws Exception {
        RawAgent stream = commitFullEpoch("vm", 1, (byte) 1);
        stream.send(begin(2, true, PAGES)).send(batch(2, delta(0, (byte) 1, (byte) 9, 1)));
        CollectorMessage refused = awaitResync(stream);
        assertEquals(List.of(0L), refused.getResync().getPagesList());
        assertTrue(refused.getResync().getReason().contains("full checkpoint"), refused.getResync().getReason());
        assertEquals(1, committedEpoch("vm"));
    }
}
