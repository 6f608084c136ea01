package io.cpstream.harness.attack;

import io.cpstream.agent.Agent;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.Hello;
import io.cpstream.proto.ReplicationGrpc;
import io.cpstream.security.PkiException;
import io.cpstream.security.Role;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsMaterial;
import io.cpstream.security.TlsSettings;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;

/**
 * Hellos at a high rate for the honest VMs' names, each from a peer that must be refused:
 * <ul>
 *   <li>{@code unauthorized}: mutual TLS with an agent certificate naming other VMs (PERMISSION_DENIED at the
 *   Hello);</li>
 *   <li>{@code wrong_role}: a reader's certificate (PERMISSION_DENIED before the call starts);</li>
 *   <li>{@code unauthenticated}: TLS without a client certificate, a fresh handshake each time (the handshake
 *   fails);</li>
 *   <li>{@code plaintext}: the Hello in clear HTTP/2 on the TLS port (not TLS: closed).</li>
 * </ul>
 * Every answer is counted by its outcome; a Welcome to any of them would be a breach and is counted as
 * {@code accepted}.
 */
final class HelloFlood implements AutoCloseable {

    /** Calls each authenticated flooder keeps in flight: the collector's limit per connection is 16. */
    private static final int IN_FLIGHT = 8;

    private final InetSocketAddress target;
    private final List<String> victims;
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    private final Map<String, Map<String, LongAdder>> outcomes = new LinkedHashMap<>(); // filled before any thread starts
    private final SSLContext anonymous;
    private final long start = System.nanoTime();
    private volatile boolean stopping;

    HelloFlood(InetSocketAddress target, List<String> victims, TlsSettings intruder, TlsSettings reader)
            throws PkiException {
        this.target = target;
        this.victims = List.copyOf(victims);
        TlsMaterial trustOnly = TlsMaterial.load(intruder, Role.COLLECTOR);
        try {
            anonymous = SSLContext.getInstance(Tls.PROTOCOL);
            anonymous.init(new KeyManager[0], new TrustManager[] {trustOnly.trustManager()}, null);
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("this JVM cannot make a TLS 1.3 context", e);
        }
        for (String kind : List.of("unauthorized", "wrong_role", "unauthenticated", "plaintext")) {
            outcomes.put(kind, new ConcurrentHashMap<>());
        }
        for (int i = 0; i < 2; i++) {
            start("unauthorized", i, channel(intruder));
        }
        start("wrong_role", 0, channel(reader));
        for (int i = 0; i < 2; i++) {
            threads.add(Thread.ofVirtual().name("flood-unauthenticated-", i).start(() -> raw("unauthenticated", true)));
        }
        threads.add(Thread.ofVirtual().name("flood-plaintext").start(() -> raw("plaintext", false)));
    }

    private ManagedChannel channel(TlsSettings identity) throws PkiException {
        ManagedChannel channel = Tls.secure(NettyChannelBuilder.forAddress(target), identity, Role.COLLECTOR).build();
        channels.add(channel);
        return channel;
    }

    private void start(String kind, int index, ManagedChannel channel) {
        for (int i = 0; i < IN_FLIGHT; i++) {
            int lane = index * IN_FLIGHT + i;
            threads.add(Thread.ofVirtual().name("flood-" + kind + "-", lane).start(() -> grpc(kind, channel, lane)));
        }
    }

    private static AgentMessage hello(String vm) {
        // The agent's own protocol, so a refusal is for who the flooder is, not for its version; a 16 MiB guest.
        return AgentMessage.newBuilder().setHello(Hello.newBuilder().setProtocolVersion(Agent.PROTOCOL_VERSION).setVmId(vm)
                .setPageSize(4096).setPageCount(4096).setLineage("intruder")).build();
    }

    private void count(String kind, String outcome) {
        outcomes.get(kind).computeIfAbsent(outcome, o -> new LongAdder()).increment();
    }

    /** One Hello after another on a gRPC stream each, as fast as the collector answers. */
    private void grpc(String kind, ManagedChannel channel, int lane) {
        long sent = 0;
        while (!stopping) {
            String vm = victims.get((int) ((lane + sent++) % victims.size()));
            CompletableFuture<String> outcome = new CompletableFuture<>();
            StreamObserver<AgentMessage> out = ReplicationGrpc.newStub(channel).stream(new StreamObserver<>() {
                @Override
                public void onNext(CollectorMessage message) {
                    if (message.hasWelcome()) {
                        outcome.complete("accepted");
                    }
                }

                @Override
                public void onError(Throwable t) {
                    outcome.complete(Status.fromThrowable(t).getCode().name());
                }

                @Override
                public void onCompleted() {
                    outcome.complete("OK");
                }
            });
            try {
                out.onNext(hello(vm));
                String result = outcome.get(30, TimeUnit.SECONDS);
                count(kind, result);
                if (result.equals("accepted")) {
                    out.onError(Status.CANCELLED.asRuntimeException());
                }
            } catch (InterruptedException e) {
                out.onError(Status.CANCELLED.asRuntimeException());
                return;
            } catch (Exception e) {
                out.onError(Status.CANCELLED.asRuntimeException());
                count(kind, "no_answer");
            }
        }
    }

    /** A fresh connection per Hello: TLS without a certificate, or no TLS at all. */
    private void raw(String kind, boolean tls) {
        byte[] request = concat(RawHttp2.openStream(tls ? "https" : "http"), RawHttp2.message(hello(victims.get(0))
                .toByteArray()));
        while (!stopping) {
            try (Socket socket = new Socket()) {
                socket.connect(target, 5000);
                socket.setSoTimeout(30_000);
                Socket stream = socket;
                if (tls) {
                    SSLSocket secured = (SSLSocket) anonymous.getSocketFactory().createSocket(socket,
                            target.getHostString(), target.getPort(), true);
                    SSLParameters parameters = secured.getSSLParameters();
                    parameters.setApplicationProtocols(new String[] {"h2"});
                    secured.setSSLParameters(parameters);
                    stream = secured;
                }
                OutputStream out = stream.getOutputStream();
                out.write(request);
                out.flush();
                InputStream in = stream.getInputStream();
                // Anything the collector says over an unauthenticated connection beyond its own SETTINGS would be
                // an answer; what is expected is an alert (TLS) or the connection closed.
                count(kind, in.read(new byte[4096]) < 0 ? "closed" : "answered");
            } catch (javax.net.ssl.SSLException e) {
                count(kind, "handshake_refused");
            } catch (IOException e) {
                if (!stopping) {
                    count(kind, "closed");
                }
            }
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] all = new byte[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    /** Per kind: each outcome's count, and the Hellos per second of all outcomes. */
    Map<String, Object> figures() {
        double seconds = (System.nanoTime() - start) / 1e9;
        Map<String, Object> result = new LinkedHashMap<>();
        outcomes.forEach((kind, counts) -> {
            Map<String, Object> figures = new LinkedHashMap<>();
            long total = 0;
            for (Map.Entry<String, LongAdder> entry : counts.entrySet()) {
                figures.put(entry.getKey(), entry.getValue().sum());
                total += entry.getValue().sum();
            }
            figures.put("hellos_per_s", Math.round(total / seconds * 10) / 10.0);
            result.put(kind, figures);
        });
        return result;
    }

    /** Whether every kind has had at least one Hello answered (refused). */
    boolean underWay() {
        return outcomes.values().stream().allMatch(counts -> counts.values().stream().mapToLong(LongAdder::sum).sum() > 0);
    }

    /** Welcomes given to any flooder: 0 unless the trust boundary failed. */
    long accepted() {
        return outcomes.values().stream().mapToLong(counts -> counts.getOrDefault("accepted", new LongAdder()).sum())
                .sum() + outcomes.values().stream()
                .mapToLong(counts -> counts.getOrDefault("answered", new LongAdder()).sum()).sum();
    }

    @Override
    public void close() throws InterruptedException {
        stopping = true;
        threads.forEach(Thread::interrupt);
        channels.forEach(ManagedChannel::shutdownNow);
        for (Thread thread : threads) {
            thread.join(10_000);
        }
    }
}
