package io.cpstream.collector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.cpstream.encoder.PageChecksums;
import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CheckpointBegin;
import io.cpstream.proto.CheckpointCommit;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.GetVmRequest;
import io.cpstream.proto.Hello;
import io.cpstream.proto.Page;
import io.cpstream.proto.PageBatch;
import io.cpstream.proto.PageEncoding;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
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

    private CollectorServer server;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        server = CollectorServer.start(CollectorConfig.of("127.0.0.1", 0, dataDir), new SimpleMeterRegistry());
        channel = NettyChannelBuilder.forTarget("127.0.0.1:" + server.port()).usePlaintext().build();
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        server.close();
    }

    /** A raw stream that records what the collector answers. */
    private final class RawStream {
        final List<CollectorMessage> received = new CopyOnWriteArrayList<>();
        final CompletableFuture<Status> closed = new CompletableFuture<>();
        final StreamObserver<AgentMessage> out = ReplicationGrpc.newStub(channel).stream(new StreamObserver<>() {
            @Override
            public void onNext(CollectorMessage message) {
                received.add(message);
            }

            @Override
            public void onError(Throwable t) {
                closed.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                closed.complete(Status.OK);
            }
        });

        RawStream send(AgentMessage message) {
            out.onNext(message);
            return this;
        }

        Status awaitClosed() throws Exception {
            return closed.get(30, TimeUnit.SECONDS);
        }
    }

    private static AgentMessage hello(String vm, long pages) {
        return AgentMessage.newBuilder().setHello(Hello.newBuilder().setProtocolVersion(1).setVmId(vm).setPageSize(4096)
                .setPageCount(pages).setLineage("lineage-1")).build();
    }

    private static AgentMessage begin(long epoch, boolean full, long pages) {
        return AgentMessage.newBuilder().setBegin(CheckpointBegin.newBuilder().setEpoch(epoch).setFull(full)
                .setPageCount(pages)).build();
    }

    private static Page page(long index, byte fill) {
        byte[] bytes = new byte[4096];
        java.util.Arrays.fill(bytes, fill);
        return Page.newBuilder().setIndex(index).setEncoding(PageEncoding.PAGE_FULL).setData(ByteString.copyFrom(bytes))
                .setCrc32C(PageChecksums.crc32c(MemorySegment.ofArray(bytes))).build();
    }

    private static AgentMessage batch(long epoch, Page... pages) {
        return AgentMessage.newBuilder().setPages(PageBatch.newBuilder().setEpoch(epoch).addAllPages(List.of(pages)))
                .build();
    }

    private static AgentMessage commit(long epoch, long pages) {
        return AgentMessage.newBuilder().setCommit(CheckpointCommit.newBuilder().setEpoch(epoch).setPageCount(pages))
                .build();
    }

    /** Commits one full epoch of pages filled with {@code fill}; returns the open stream. */
    private RawStream commitFullEpoch(String vm, long epoch, byte fill) {
        RawStream stream = new RawStream().send(hello(vm, PAGES)).send(begin(epoch, true, PAGES));
        for (int i = 0; i < PAGES; i++) {
            stream.send(batch(epoch, page(i, fill)));
        }
        stream.send(commit(epoch, PAGES));
        await().atMost(Duration.ofSeconds(30)).until(() -> stream.received.stream().anyMatch(m -> m.hasAck()));
        return stream;
    }

    private long committedEpoch(String vm) {
        return AdminGrpc.newBlockingStub(channel).getVm(GetVmRequest.newBuilder().setVmId(vm).build()).getCommittedEpoch();
    }

    @Test
    void firstMessageMustBeHello() throws Exception {
        Status status = new RawStream().send(begin(1, true, 1)).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode());
        assertTrue(status.getDescription().contains("must be hello"), status.getDescription());
    }

    @Test
    void helloIsValidated() throws Exception {
        assertEquals(Status.Code.INVALID_ARGUMENT, new RawStream().send(hello("../etc", 4)).awaitClosed().getCode());
        assertEquals(Status.Code.INVALID_ARGUMENT, new RawStream().send(hello("vm", 0)).awaitClosed().getCode());
        Status huge = new RawStream().send(hello("vm", 1L << 40)).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, huge.getCode());
        assertTrue(huge.getDescription().contains("pages"), huge.getDescription());
    }

    @Test
    void outOfRangeAndDuplicatePagesCloseTheStreamAndLeaveTheStandbyAlone() throws Exception {
        commitFullEpoch("vm", 1, (byte) 1).out.onCompleted();
        byte[] before = java.nio.file.Files.readAllBytes(dataDir.resolve("vms/vm/image.mem"));

        Status outOfRange = new RawStream().send(hello("vm", PAGES)).send(begin(2, false, 2).toBuilder()
                .setBegin(CheckpointBegin.newBuilder().setEpoch(2).setBaseEpoch(1).setPageCount(2)).build())
                .send(batch(2, page(PAGES, (byte) 9))).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, outOfRange.getCode());
        assertTrue(outOfRange.getDescription().contains("page " + PAGES), outOfRange.getDescription());

        // The agent lineage differs from the stream that built the image only if it says so; reuse it.
        Status duplicate = new RawStream().send(hello("vm", PAGES)).send(AgentMessage.newBuilder()
                .setBegin(CheckpointBegin.newBuilder().setEpoch(3).setBaseEpoch(1).setPageCount(2)).build())
                .send(batch(3, page(0, (byte) 7), page(0, (byte) 7))).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, duplicate.getCode());

        Status wrongCount = new RawStream().send(hello("vm", PAGES)).send(AgentMessage.newBuilder()
                .setBegin(CheckpointBegin.newBuilder().setEpoch(4).setBaseEpoch(1).setPageCount(1)).build())
                .send(batch(4, page(0, (byte) 7))).send(commit(4, 2)).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, wrongCount.getCode());

        assertEquals(1, committedEpoch("vm"));
        assertTrue(java.util.Arrays.equals(before, java.nio.file.Files.readAllBytes(dataDir.resolve("vms/vm/image.mem"))),
                "the committed image is untouched");
    }

    @Test
    void corruptedPageIsNeverAppliedAndTriggersResync() throws Exception {
        RawStream stream = commitFullEpoch("vm", 1, (byte) 1);
        Page corrupt = page(3, (byte) 5).toBuilder().setCrc32C(12345).build();
        stream.send(AgentMessage.newBuilder().setBegin(CheckpointBegin.newBuilder().setEpoch(2).setBaseEpoch(1)
                .setPageCount(1)).build()).send(batch(2, corrupt)).send(commit(2, 1));
        await().atMost(Duration.ofSeconds(30)).until(() -> stream.received.stream().anyMatch(CollectorMessage::hasResync));
        CollectorMessage resync = stream.received.stream().filter(CollectorMessage::hasResync).findFirst().orElseThrow();
        assertEquals(1, resync.getResync().getCommittedEpoch());
        assertEquals(List.of(3L), resync.getResync().getPagesList());
        assertEquals(1, committedEpoch("vm"));

        // The resend on the right base commits.
        stream.send(AgentMessage.newBuilder().setBegin(CheckpointBegin.newBuilder().setEpoch(3).setBaseEpoch(1)
                .setPageCount(1)).build()).send(batch(3, page(3, (byte) 5))).send(commit(3, 1));
        await().atMost(Duration.ofSeconds(30)).until(() -> committedEpoch("vm") == 3);
    }
}
