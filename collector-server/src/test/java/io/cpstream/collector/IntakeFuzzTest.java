package io.cpstream.collector;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.cpstream.collector.lease.LocalLeases;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CheckpointBegin;
import io.cpstream.proto.CheckpointCommit;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.DeviceState;
import io.cpstream.proto.Hello;
import io.cpstream.proto.OutputBatch;
import io.cpstream.proto.PageBatch;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Coverage of the replication intake by generated hostile input (issue 15's campaign, with jqwik where Jazzer does
 * not fit the build): whole AgentMessage sequences, and raw bytes, against a live standby that holds a committed
 * epoch. None may change what is committed, none may earn an INTERNAL or UNKNOWN status (a collector error or an
 * echoed exception), and the standby must still take its honest agent afterwards. 10,000 tries per property in
 * CI; {@code -Djqwik.tries.default=N} runs more (see the README).
 */
class IntakeFuzzTest {

    private static final String VM = "fuzzed";
    private static final int PAGES = 8;
    /** The check of a batch of one zero page: what a fuzzed batch that happens to be one zero record must carry. */
    private static final long ZERO_PAGE_CHECK = zeroPageCheck();
    private static final Set<Status.Code> FORBIDDEN = Set.of(Status.Code.INTERNAL, Status.Code.UNKNOWN);

    private static Path dataDir;
    private static StandbyRegistry registry;
    private static Server server;
    private static ManagedChannel channel;
    private static long committed;

    @BeforeContainer
    static void start() throws Exception {
        dataDir = Files.createTempDirectory("intake-fuzz-");
        registry = StandbyRegistry.open(CollectorConfig.of("127.0.0.1", 0, dataDir), "fuzz", new SimpleMeterRegistry(),
                new LocalLeases());
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(new ReplicationService(registry).binding()).build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        RawAgent honest = new RawAgent(channel).send(RawAgent.hello(VM, PAGES)).send(RawAgent.begin(1, true, PAGES));
        for (int i = 0; i < PAGES; i++) {
            honest.send(RawAgent.batch(1, RawAgent.page(i, (byte) i)));
        }
        honest.sendCommit(1, PAGES);
        honest.awaitAnswer(CollectorMessage::hasAck);
        honest.out.onCompleted();
        honest.awaitClosed();
        committed = registry.find(VM).committedEpoch();
        assertEquals(1, committed);
    }

    @AfterContainer
    static void stop() throws IOException {
        channel.shutdownNow();
        server.shutdownNow();
        registry.close();
        io.cpstream.snapshot.DurableFiles.deleteRecursively(dataDir);
    }

    @Property
    void messageSequencesNeverCommitOrFailInternally(@ForAll("sequences") List<AgentMessage> messages)
            throws Exception {
        RawAgent stream = new RawAgent(channel).send(RawAgent.hello(VM, PAGES));
        for (AgentMessage message : messages) {
            stream.send(message);
        }
        stream.out.onCompleted();
        Status status = stream.awaitClosed();
        assertTrue(!FORBIDDEN.contains(status.getCode()), status.toString());
        assertEquals(committed, registry.find(VM).committedEpoch());
    }

    @Property
    void garbageBytesAreInvalidArguments(@ForAll("garbage") byte[] bytes) throws Exception {
        ClientCall<byte[], byte[]> call = channel.newCall(ReplicationGrpc.getStreamMethod().toBuilder(RAW, RAW)
                .build(), CallOptions.DEFAULT);
        CompletableFuture<Status> closed = new CompletableFuture<>();
        call.start(new ClientCall.Listener<>() {
            @Override
            public void onClose(Status status, Metadata trailers) {
                closed.complete(status);
            }
        }, new Metadata());
        call.request(Integer.MAX_VALUE);
        call.sendMessage(bytes);
        call.halfClose();
        Status status = closed.get(30, TimeUnit.SECONDS);
        assertTrue(!FORBIDDEN.contains(status.getCode()), status.toString());
        assertEquals(committed, registry.find(VM).committedEpoch());
    }

    private static long zeroPageCheck() {
        io.cpstream.encoder.PageBatchCheck check = new io.cpstream.encoder.PageBatchCheck();
        check.add(io.cpstream.encoder.PageChecksums.crc32c(java.lang.foreign.MemorySegment.ofArray(new byte[4096])));
        return check.value();
    }

    private static final MethodDescriptor.Marshaller<byte[]> RAW = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
    };

    @Provide
    Arbitrary<byte[]> garbage() {
        // Mostly mutations of a valid message (deeper into the parser than noise), some noise.
        byte[] valid = AgentMessage.newBuilder().setBegin(CheckpointBegin.newBuilder().setEpoch(2).setBaseEpoch(1)
                .setPageCount(PAGES)).build().toByteArray();
        Arbitrary<byte[]> mutated = Arbitraries.integers().between(0, valid.length - 1).list().ofMaxSize(4)
                .flatMap(positions -> Arbitraries.bytes().list().ofSize(positions.size()).map(values -> {
                    byte[] copy = valid.clone();
                    for (int i = 0; i < positions.size(); i++) {
                        copy[positions.get(i)] = values.get(i);
                    }
                    return copy;
                }));
        return Arbitraries.oneOf(mutated, Arbitraries.bytes().array(byte[].class).ofMaxSize(64));
    }

    @Provide
    Arbitrary<List<AgentMessage>> sequences() {
        Arbitrary<Long> epochs = Arbitraries.oneOf(Arbitraries.longs().between(0, 4),
                Arbitraries.of(Long.MAX_VALUE, -1L, Long.MIN_VALUE, 0xFFFFFFFF00000005L));
        Arbitrary<Long> indexes = Arbitraries.oneOf(Arbitraries.longs().between(0, PAGES + 1),
                Arbitraries.of(-1L, 0xFFFFFFFF00000005L, 1L << 32, Long.MIN_VALUE));
        Arbitrary<ByteString> data = Arbitraries.oneOf(Arbitraries.just(ByteString.EMPTY),
                Arbitraries.bytes().array(byte[].class).ofMaxSize(64).map(ByteString::copyFrom),
                Arbitraries.just(ByteString.copyFrom(new byte[4096])),
                Arbitraries.just(ByteString.copyFrom(new byte[4097])));
        Arbitrary<AgentMessage> begin = Combinators.combine(epochs, epochs, Arbitraries.of(true, false),
                Arbitraries.longs().between(0, PAGES + 2)).as((epoch, base, full, count) -> AgentMessage.newBuilder()
                .setBegin(CheckpointBegin.newBuilder().setEpoch(epoch).setBaseEpoch(base).setFull(full)
                        .setPageCount(count)).build());
        // Columnar batches (protocol 5): columns of any lengths, consistent or not, gaps and lags at their edges, any
        // batch check (a zero page's, a zero value, anything).
        Arbitrary<List<Long>> gaps = Arbitraries.oneOf(Arbitraries.longs().between(0, PAGES + 1),
                Arbitraries.of(-1L, 0xFFFFFFFF00000005L, 1L << 32, Long.MIN_VALUE)).list().ofMaxSize(4);
        Arbitrary<byte[]> encodings = Arbitraries.bytes().between((byte) 0, (byte) 8).array(byte[].class).ofMaxSize(4);
        Arbitrary<List<Integer>> lengths = Arbitraries.integers().between(0, 4097).list().ofMaxSize(4);
        Arbitrary<List<Long>> lags = epochs.list().ofMaxSize(4);
        Arbitrary<Long> checks = Arbitraries.oneOf(Arbitraries.longs(), Arbitraries.just(0L),
                Arbitraries.just(ZERO_PAGE_CHECK));
        Arbitrary<AgentMessage> batch = Combinators.combine(epochs, gaps, encodings, lengths, lags, checks, data)
                .as((epoch, gapList, kinds, lengthList, lagList, check, payload) -> AgentMessage.newBuilder()
                        .setPages(PageBatch.newBuilder().setEpoch(epoch).addAllIndexGaps(gapList)
                                .setEncodings(ByteString.copyFrom(kinds)).addAllLengths(lengthList)
                                .addAllBaseLags(lagList).addAllSourceIndexes(gapList).setPagesCheck(check)
                                .setData(payload)).build());
        Arbitrary<AgentMessage> state = Combinators.combine(epochs, data, Arbitraries.longs().between(0, 5000))
                .as((epoch, bytes, offset) -> AgentMessage.newBuilder().setDeviceState(DeviceState.newBuilder()
                        .setEpoch(epoch).setState(bytes).setOffset(offset)).build());
        Arbitrary<AgentMessage> outputs = Combinators.combine(epochs, epochs, data.list().ofMaxSize(3))
                .as((epoch, first, records) -> AgentMessage.newBuilder().setOutputs(OutputBatch.newBuilder()
                        .setEpoch(epoch).setStart(first).addAllRecords(records)).build());
        Arbitrary<AgentMessage> commit = Combinators.combine(epochs, Arbitraries.longs().between(0, PAGES + 2), data,
                epochs, epochs).as((epoch, count, sha, start, end) -> AgentMessage.newBuilder().setCommit(
                CheckpointCommit.newBuilder().setEpoch(epoch).setPageCount(count).setDeviceStateSha256(sha)
                        .setOutputStart(start).setOutputEnd(end).setDeviceStateBytes(sha.size())).build());
        Arbitrary<AgentMessage> hello = epochs.map(fencing -> AgentMessage.newBuilder().setHello(Hello.newBuilder()
                .setProtocolVersion(StandbyRegistry.PROTOCOL_VERSION).setVmId(VM).setPageSize(4096)
                .setPageCount(PAGES).setFencingEpoch(fencing)).build());
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(4, begin), net.jqwik.api.Tuple.of(5, batch),
                        net.jqwik.api.Tuple.of(2, state), net.jqwik.api.Tuple.of(1, outputs),
                        net.jqwik.api.Tuple.of(3, commit), net.jqwik.api.Tuple.of(1, hello))
                .list().ofMinSize(1).ofMaxSize(10);
    }
}
