package io.cpstream.harness.bench;

import io.cpstream.agent.StreamTuning;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the loopback link carries with nothing of cpstream on it, measured in the same run as the pipeline so the
 * two figures share the machine's mood: one plain TCP stream (a writer of 1 MiB buffers, a reader that drops
 * them), and one gRPC client stream of 1 MiB messages over the same transport, window and flow control as the
 * agent's link (Netty, the agent's window and on-ready threshold from {@link StreamTuning}, sending only while the
 * call is ready). The TCP figure is the link's ceiling; the gRPC one is what the framework leaves of it before any
 * checkpoint work.
 */
final class LinkBaseline {

    private static final int BUFFER = 1 << 20;
    private static final MethodDescriptor<byte[], byte[]> SINK = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.CLIENT_STREAMING)
            .setFullMethodName(MethodDescriptor.generateFullMethodName("cpstream.bench.Link", "Sink"))
            .setRequestMarshaller(new BytesMarshaller())
            .setResponseMarshaller(new BytesMarshaller())
            .build();

    private LinkBaseline() {
    }

    /** Both baselines, {@code duration} each: {@code link_mb_per_s} (TCP) and {@code grpc_link_mb_per_s}. */
    static Map<String, Object> measure(Duration duration) throws Exception {
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("link_mb_per_s", Figures.round(tcp(duration)));
        result.put("grpc_link_mb_per_s", Figures.round(grpc(duration)));
        return result;
    }

    /** One TCP stream over loopback: MB/s the reader received. */
    static double tcp(Duration duration) throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            AtomicLong received = new AtomicLong();
            Thread reader = Thread.ofPlatform().name("link-baseline-reader").start(() -> {
                try (Socket socket = listener.accept(); InputStream in = socket.getInputStream()) {
                    byte[] buffer = new byte[BUFFER];
                    int n;
                    while ((n = in.read(buffer)) > 0) {
                        received.addAndGet(n);
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            byte[] buffer = filled();
            long start;
            long end;
            long receivedAtEnd;
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), listener.getLocalPort());
                 OutputStream out = socket.getOutputStream()) {
                start = System.nanoTime();
                long deadline = start + duration.toNanos();
                while (System.nanoTime() < deadline) {
                    out.write(buffer);
                }
                end = System.nanoTime();
                receivedAtEnd = received.get();
            }
            reader.join();
            return receivedAtEnd / 1e6 / ((end - start) / 1e9);
        }
    }

    /** One gRPC client stream over loopback, sending while the call is ready: MB/s the server received. */
    static double grpc(Duration duration) throws Exception {
        AtomicLong received = new AtomicLong();
        ServerServiceDefinition service = ServerServiceDefinition.builder("cpstream.bench.Link")
                .addMethod(SINK, new CountingSink(received)).build();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .flowControlWindow(StreamTuning.FLOW_CONTROL_WINDOW).maxInboundMessageSize(2 * BUFFER).addService(service)
                .build().start();
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext()
                .flowControlWindow(StreamTuning.FLOW_CONTROL_WINDOW).build();
        try {
            byte[] message = filled();
            ClientCall<byte[], byte[]> call = channel.newCall(SINK, CallOptions.DEFAULT.withOnReadyThreshold(StreamTuning.ON_READY_THRESHOLD));
            CountDownLatch closed = new CountDownLatch(1);
            Object ready = new Object();
            call.start(new ClientCall.Listener<>() {
                @Override
                public void onReady() {
                    synchronized (ready) {
                        ready.notifyAll();
                    }
                }

                @Override
                public void onClose(Status status, Metadata trailers) {
                    closed.countDown();
                }
            }, new Metadata());
            call.request(1);
            long start = System.nanoTime();
            long deadline = start + duration.toNanos();
            while (System.nanoTime() < deadline) {
                synchronized (ready) {
                    while (!call.isReady() && System.nanoTime() < deadline) {
                        ready.wait(10);
                    }
                }
                if (call.isReady()) {
                    call.sendMessage(message);
                }
            }
            long end = System.nanoTime();
            long receivedAtEnd = received.get();
            call.halfClose();
            closed.await(10, TimeUnit.SECONDS);
            return receivedAtEnd / 1e6 / ((end - start) / 1e9);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** Incompressible bytes, as a dirty page mostly is to the link (nothing on loopback compresses anyway). */
    private static byte[] filled() {
        byte[] buffer = new byte[BUFFER];
        new java.util.Random(1).nextBytes(buffer);
        return buffer;
    }

    /** The server side of the gRPC baseline: counts each message's bytes and asks for the next. */
    private record CountingSink(AtomicLong received) implements ServerCallHandler<byte[], byte[]> {
        @Override
        public ServerCall.Listener<byte[]> startCall(ServerCall<byte[], byte[]> call, Metadata headers) {
            call.request(1);
            return new ServerCall.Listener<>() {
                @Override
                public void onMessage(byte[] message) {
                    received.addAndGet(message.length);
                    call.request(1);
                }

                @Override
                public void onHalfClose() {
                    call.sendHeaders(new Metadata());
                    call.sendMessage(new byte[0]);
                    call.close(Status.OK, new Metadata());
                }
            };
        }
    }

    /** Messages as they are: the baseline moves bytes, not protobuf objects. */
    private static final class BytesMarshaller implements MethodDescriptor.Marshaller<byte[]> {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
