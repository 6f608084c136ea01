package io.cpstream.collector;

import com.google.protobuf.ByteString;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.encoder.PageBatchCheck;
import io.cpstream.encoder.PageChecksums;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CheckpointBegin;
import io.cpstream.proto.CheckpointCommit;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.DeviceState;
import io.cpstream.proto.Hello;
import io.cpstream.proto.PageBatch;
import io.cpstream.proto.PageEncoding;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * An agent reduced to its wire: a replication stream whose messages a test writes by hand (well-formed or not),
 * recording what the collector answers. The static methods build the messages.
 */
final class RawAgent {

    static final int PAGE = 4096;

    final List<CollectorMessage> received = new CopyOnWriteArrayList<>();
    final CompletableFuture<Status> closed = new CompletableFuture<>();
    final StreamObserver<AgentMessage> out;

    RawAgent(ManagedChannel channel) {
        out = ReplicationGrpc.newStub(channel).stream(new StreamObserver<>() {
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
    }

    RawAgent send(AgentMessage message) {
        out.onNext(message);
        return this;
    }

    /** Ends epoch {@code epoch}: its (empty) device state, then its commit. */
    RawAgent sendCommit(long epoch, long pages) {
        return sendCommit(epoch, pages, new byte[0]);
    }

    /** Ends epoch {@code epoch} with {@code state} as its device state, in one chunk. */
    RawAgent sendCommit(long epoch, long pages, byte[] state) {
        return send(deviceState(epoch, state)).send(commit(epoch, pages, state));
    }

    Status awaitClosed() throws Exception {
        return closed.get(30, TimeUnit.SECONDS);
    }

    /** Waits for the first answer {@code match} accepts, and forgets every answer received so far. */
    CollectorMessage awaitAnswer(Predicate<CollectorMessage> match) {
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> received.stream().anyMatch(match));
        CollectorMessage found = received.stream().filter(match).findFirst().orElseThrow();
        received.clear();
        return found;
    }

    static AgentMessage hello(String vm, long pages) {
        return AgentMessage.newBuilder().setHello(Hello.newBuilder().setProtocolVersion(StandbyRegistry.PROTOCOL_VERSION)
                .setVmId(vm).setPageSize(PAGE).setPageCount(pages).setLineage("lineage-1")).build();
    }

    static AgentMessage begin(long epoch, boolean full, long pages) {
        return AgentMessage.newBuilder().setBegin(CheckpointBegin.newBuilder().setEpoch(epoch).setFull(full)
                .setPageCount(pages)).build();
    }

    static AgentMessage incremental(long epoch, long base, long pages) {
        return AgentMessage.newBuilder().setBegin(CheckpointBegin.newBuilder().setEpoch(epoch).setBaseEpoch(base)
                .setPageCount(pages)).build();
    }

    static byte[] filled(byte fill) {
        byte[] bytes = new byte[PAGE];
        Arrays.fill(bytes, fill);
        return bytes;
    }

    /**
     * One page record as a test writes it; {@link #batch} packs records into PageBatch's columns (protocol 5) by
     * its rules, with nothing checked, so a test may write records no agent would: {@code crc32c} is what the record
     * claims its page's CRC-32C is, folded into the batch's {@code pages_check} as the agent folds its pages'.
     */
    record Rec(long index, PageEncoding encoding, ByteString data, int crc32c, long baseVersion, long sourceIndex) {

        Rec withCrc32c(int crc) {
            return new Rec(index, encoding, data, crc, baseVersion, sourceIndex);
        }

        Rec withSourceIndex(long source) {
            return new Rec(index, encoding, data, crc32c, baseVersion, source);
        }
    }

    static Rec page(long index, byte fill) {
        byte[] bytes = filled(fill);
        return new Rec(index, PageEncoding.PAGE_FULL, ByteString.copyFrom(bytes),
                PageChecksums.crc32c(MemorySegment.ofArray(bytes)), 0, 0);
    }

    /** The records in the columns of one batch, in the order given (index gaps are computed from the order). */
    static AgentMessage batch(long epoch, Rec... pages) {
        PageBatch.Builder batch = PageBatch.newBuilder().setEpoch(epoch);
        byte[] encodings = new byte[pages.length];
        ByteString data = ByteString.EMPTY;
        long previous = -1;
        PageBatchCheck check = new PageBatchCheck();
        for (int i = 0; i < pages.length; i++) {
            Rec page = pages[i];
            batch.addIndexGaps(page.index() - previous - 1);
            previous = page.index();
            encodings[i] = (byte) page.encoding().getNumber();
            check.add(page.crc32c());
            boolean delta = page.encoding() == PageEncoding.PAGE_DELTA || page.encoding() == PageEncoding.PAGE_DELTA_LZ4;
            if (page.encoding() == PageEncoding.PAGE_LZ4 || delta) {
                batch.addLengths(page.data().size());
            }
            if (delta) {
                batch.addBaseLags(epoch - page.baseVersion());
            }
            if (page.encoding() == PageEncoding.PAGE_DUPLICATE) {
                batch.addSourceIndexes(page.sourceIndex());
            }
            data = data.concat(page.data());
        }
        return AgentMessage.newBuilder().setPages(batch.setEncodings(ByteString.copyFrom(encodings)).setData(data)
                .setPagesCheck(check.value())).build();
    }

    static AgentMessage deviceState(long epoch, byte[] state) {
        return AgentMessage.newBuilder().setDeviceState(DeviceState.newBuilder().setEpoch(epoch)
                .setState(ByteString.copyFrom(state))).build();
    }

    /** A commit vouching for {@code state} as the epoch's device state. */
    static AgentMessage commit(long epoch, long pages, byte[] state) {
        return AgentMessage.newBuilder().setCommit(CheckpointCommit.newBuilder().setEpoch(epoch).setPageCount(pages)
                .setDeviceStateBytes(state.length)
                .setDeviceStateSha256(ByteString.copyFrom(ImageDigest.sha256(state)))).build();
    }
}
