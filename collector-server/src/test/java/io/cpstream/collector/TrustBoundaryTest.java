package io.cpstream.collector;

import static io.cpstream.collector.RawAgent.batch;
import static io.cpstream.collector.RawAgent.begin;
import static io.cpstream.collector.RawAgent.hello;
import static io.cpstream.collector.RawAgent.page;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.cpstream.proto.AdminGrpc;
import io.cpstream.proto.AgentMessage;
import io.cpstream.proto.DeleteVmRequest;
import io.cpstream.proto.GetVmRequest;
import io.cpstream.proto.Heartbeat;
import io.cpstream.proto.Hello;
import io.cpstream.proto.LeaseGrant;
import io.cpstream.proto.ListVmsRequest;
import io.cpstream.proto.PromoteRequest;
import io.cpstream.proto.ReplicationGrpc;
import io.cpstream.proto.VmStatus;
import io.cpstream.proto.Welcome;
import io.cpstream.security.Pki;
import io.cpstream.security.Role;
import io.cpstream.security.Tls;
import io.cpstream.security.TlsSettings;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariants I6 and I7 over real TLS sockets: the attacks of issue 15, each refused with a clear status while the
 * honest VM's committed epoch stays what it was, and the collector starting again afterwards.
 */
class TrustBoundaryTest {

    private static final int PAGES = 4;
    private static final Duration YEAR = Duration.ofDays(365);

    @TempDir
    static Path pki;

    @TempDir
    Path dataDir;

    private TestCollector collector;
    private final List<ManagedChannel> channels = new ArrayList<>();

    @BeforeAll
    static void issue() throws Exception {
        Pki.init(pki, YEAR);
        Pki.issue(pki, "collector", Role.COLLECTOR, List.of(), YEAR);
        Pki.issue(pki, "host-a", Role.AGENT, List.of("web-*"), YEAR);
        Pki.issue(pki, "host-b", Role.AGENT, List.of("web-1"), YEAR);
        Pki.issue(pki, "host-db", Role.AGENT, List.of("db-1"), YEAR);
        Pki.issue(pki, "ops", Role.ADMIN, List.of(), YEAR);
        Pki.issue(pki, "viewer", Role.READER, List.of(), YEAR);
    }

    private static TlsSettings identity(String name) {
        return TlsSettings.files(pki.resolve(name + ".crt"), pki.resolve(name + ".key"), pki.resolve("ca.crt"));
    }

    @BeforeEach
    void start() throws Exception {
        collector = new TestCollector(dataDir, config -> config.withTls(identity("collector"))
                .withQuotas(new CollectorConfig.Quotas(3, 20L << 20, dataDir.resolve("audit.log")))
                .withMaxGuestBytes(16L << 20));
    }

    @AfterEach
    void stop() {
        channels.forEach(ManagedChannel::shutdownNow);
        collector.close();
    }

    private ManagedChannel channel(String name) throws Exception {
        ManagedChannel channel = Tls.secure(NettyChannelBuilder.forTarget("127.0.0.1:" + collector.port()),
                identity(name), Role.COLLECTOR).build();
        channels.add(channel);
        return channel;
    }

    private AdminGrpc.AdminBlockingStub admin(String name) throws Exception {
        return AdminGrpc.newBlockingStub(channel(name)).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    /** Commits a full epoch of {@code vm} as {@code agent}; returns the stream, still attached ({@link #welcome}). */
    private RawAgent commitFull(String agent, String vm, long epoch, byte fill) throws Exception {
        RawAgent stream = new RawAgent(channel(agent)).send(hello(vm, PAGES));
        welcome = stream.awaitAnswer(m -> m.hasWelcome()).getWelcome();
        stream.send(begin(epoch, true, PAGES));
        for (int i = 0; i < PAGES; i++) {
            stream.send(batch(epoch, page(i, fill)));
        }
        stream.sendCommit(epoch, PAGES);
        stream.awaitAnswer(m -> m.hasAck() && m.getAck().getEpoch() == epoch);
        return stream;
    }

    private VmStatus status(String vm) throws Exception {
        return admin("ops").getVm(GetVmRequest.newBuilder().setVmId(vm).build());
    }

    /** The Welcome of the last {@link #commitFull}'s stream. */
    private Welcome welcome;

    private Welcome welcomeOf(RawAgent stream) {
        return welcome;
    }

    @Test
    void withoutAClientCertificateTheHandshakeFails() throws Exception {
        ManagedChannel plaintext = NettyChannelBuilder.forTarget("127.0.0.1:" + collector.port()).usePlaintext().build();
        channels.add(plaintext);
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                () -> AdminGrpc.newBlockingStub(plaintext).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .listVms(ListVmsRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNAVAILABLE, refused.getStatus().getCode(), refused.toString());

        // TLS that trusts the collector but presents no certificate of its own.
        ManagedChannel anonymous = NettyChannelBuilder.forTarget("127.0.0.1:" + collector.port())
                .sslContext(GrpcSslContexts.forClient().trustManager(pki.resolve("ca.crt").toFile()).build()).build();
        channels.add(anonymous);
        StatusRuntimeException noCert = assertThrows(StatusRuntimeException.class,
                () -> AdminGrpc.newBlockingStub(anonymous).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .listVms(ListVmsRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNAVAILABLE, noCert.getStatus().getCode(), noCert.toString());
    }

    @Test
    void rolesDecideWhoListsPromotesAndDeletes() throws Exception {
        commitFull("host-a", "web-1", 1, (byte) 1);
        assertEquals(1, admin("viewer").listVms(ListVmsRequest.getDefaultInstance()).getVmsCount());
        StatusRuntimeException promote = assertThrows(StatusRuntimeException.class, () -> admin("viewer")
                .promote(PromoteRequest.newBuilder().setVmId("web-1").setForce(true).build()));
        assertEquals(Status.Code.PERMISSION_DENIED, promote.getStatus().getCode());
        assertTrue(promote.getStatus().getDescription().contains("needs the admin role"), promote.toString());
        StatusRuntimeException byAgent = assertThrows(StatusRuntimeException.class, () -> admin("host-a")
                .promote(PromoteRequest.newBuilder().setVmId("web-1").setForce(true).build()));
        assertEquals(Status.Code.PERMISSION_DENIED, byAgent.getStatus().getCode());
        StatusRuntimeException list = assertThrows(StatusRuntimeException.class,
                () -> admin("host-a").listVms(ListVmsRequest.getDefaultInstance()));
        assertEquals(Status.Code.PERMISSION_DENIED, list.getStatus().getCode());
        StatusRuntimeException delete = assertThrows(StatusRuntimeException.class, () -> admin("viewer")
                .deleteVm(DeleteVmRequest.newBuilder().setVmId("web-1").setForce(true).build()));
        assertEquals(Status.Code.PERMISSION_DENIED, delete.getStatus().getCode());
        assertEquals(1, status("web-1").getCommittedEpoch());

        // An admin may: deleting needs force while the agent streams.
        StatusRuntimeException streaming = assertThrows(StatusRuntimeException.class, () -> admin("ops")
                .deleteVm(DeleteVmRequest.newBuilder().setVmId("web-1").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, streaming.getStatus().getCode());
        assertEquals(1, admin("ops").deleteVm(DeleteVmRequest.newBuilder().setVmId("web-1").setForce(true).build())
                .getCommittedEpoch());
        assertFalse(Files.exists(dataDir.resolve("vms").resolve("web-1")));
        assertEquals(0, admin("ops").listVms(ListVmsRequest.getDefaultInstance()).getVmsCount());

        String audit = Files.readString(dataDir.resolve("audit.log"));
        assertTrue(audit.contains("who='viewer (reader)' action=Promote vm='' result='PERMISSION_DENIED'"), audit);
        assertTrue(audit.contains("who='ops (admin)' action=DeleteVm vm='web-1' result='FAILED_PRECONDITION"), audit);
        assertTrue(audit.contains("who='ops (admin)' action=DeleteVm(force) vm='web-1' result='OK: at epoch 1'"), audit);
    }

    @Test
    void anAgentStreamsOnlyTheVmsItsCertificateNames() throws Exception {
        commitFull("host-a", "web-1", 1, (byte) 1);
        Status other = new RawAgent(channel("host-db")).send(hello("web-1", PAGES)).awaitClosed();
        assertEquals(Status.Code.PERMISSION_DENIED, other.getCode());
        assertTrue(other.getDescription().contains("host-db (agent) may not stream vm 'web-1'"), other.toString());
        Status admin = new RawAgent(channel("ops")).send(hello("web-1", PAGES)).awaitClosed();
        assertEquals(Status.Code.PERMISSION_DENIED, admin.getCode());
        assertEquals(1, status("web-1").getCommittedEpoch());
    }

    /** Sends one heartbeat for {@code vm} with {@code token} on a Lease call as {@code agent}; the grant or the status. */
    private Object heartbeat(String agent, String vm, ByteString token) throws Exception {
        CompletableFuture<Object> answer = new CompletableFuture<>();
        StreamObserver<Heartbeat> beats = ReplicationGrpc.newStub(channel(agent)).lease(new StreamObserver<>() {
            @Override
            public void onNext(LeaseGrant grant) {
                answer.complete(grant);
            }

            @Override
            public void onError(Throwable t) {
                answer.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                answer.complete(Status.OK);
            }
        });
        beats.onNext(Heartbeat.newBuilder().setVmId(vm).setLeaseToken(token).setSequence(1).build());
        beats.onCompleted();
        return answer.get(30, TimeUnit.SECONDS);
    }

    @Test
    void leaseCallsAreAuthorizedPerVmAndPerPeer() throws Exception {
        RawAgent honest = commitFull("host-a", "web-1", 1, (byte) 1);
        ByteString token = welcomeOf(honest).getLeaseToken();
        assertTrue(heartbeat("host-a", "web-1", token) instanceof LeaseGrant);
        Object foreign = heartbeat("host-db", "web-1", token);
        assertEquals(Status.Code.PERMISSION_DENIED, ((Status) foreign).getCode(), foreign.toString());
        // Another agent allowed to protect web-1, even holding the token, earns no grant: the lease is host-a's.
        assertEquals(Status.OK, heartbeat("host-b", "web-1", token));
    }

    @Test
    void takingOverAVmWhoseLeaseRunsIsRefused() throws Exception {
        RawAgent honest = commitFull("host-a", "web-1", 1, (byte) 1);
        assertTrue(heartbeat("host-a", "web-1", welcomeOf(honest).getLeaseToken()) instanceof LeaseGrant);
        Status takeover = new RawAgent(channel("host-b")).send(hello("web-1", PAGES)).awaitClosed();
        assertEquals(Status.Code.UNAVAILABLE, takeover.getCode());
        assertTrue(takeover.getDescription().contains("held by host-a (agent) under a running lease"), takeover.toString());
        assertFalse(honest.closed.isDone(), "the honest stream must stay attached");
        // The honest agent goes on committing.
        honest.send(begin(2, true, PAGES));
        for (int i = 0; i < PAGES; i++) {
            honest.send(batch(2, page(i, (byte) 2)));
        }
        honest.sendCommit(2, PAGES);
        honest.awaitAnswer(m -> m.hasAck() && m.getAck().getEpoch() == 2);
        assertEquals(2, status("web-1").getCommittedEpoch());
    }

    private static AgentMessage helloWithEpoch(String vm, long fencing) {
        Hello hello = hello(vm, PAGES).getHello();
        return AgentMessage.newBuilder().setHello(hello.toBuilder().setFencingEpoch(fencing)).build();
    }

    @Test
    void aHelloNeverRaisesTheFencingEpoch() throws Exception {
        RawAgent honest = commitFull("host-a", "web-1", 1, (byte) 1);
        honest.out.onCompleted();
        honest.awaitClosed();
        for (long epoch : new long[] {Long.MAX_VALUE, -1L, 5}) {
            Status raised = new RawAgent(channel("host-a")).send(helloWithEpoch("web-1", epoch)).awaitClosed();
            assertEquals(Status.Code.INVALID_ARGUMENT, raised.getCode(), raised.toString());
        }
        VmStatus after = status("web-1");
        assertEquals(0, after.getFencingEpoch());
        assertEquals(1, after.getCommittedEpoch());
        // A fresh VM cannot start at an epoch that could never be raised either.
        Status fresh = new RawAgent(channel("host-a")).send(helloWithEpoch("web-2", Long.MAX_VALUE)).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, fresh.getCode());
        // The honest agent comes back at its epoch.
        commitFull("host-a", "web-1", 2, (byte) 2);
        assertEquals(2, status("web-1").getCommittedEpoch());
    }

    @Test
    void quotasRefuseAtHelloAndTheCollectorStartsAgain() throws Exception {
        RawAgent honest = commitFull("host-a", "web-1", 1, (byte) 1);
        // 1 TiB declared: above --max-guest-bytes, refused before anything is allocated.
        Status huge = new RawAgent(channel("host-a")).send(hello("web-2", 1L << 28)).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, huge.getCode());
        assertTrue(huge.getDescription().contains("--max-guest-bytes"), huge.toString());
        // At most 3 VMs and 20 MiB of guests together: two more of 4 MiB fit, a fourth VM does not.
        for (int i = 2; i <= 3; i++) {
            RawAgent ok = new RawAgent(channel("host-a")).send(hello("web-" + i, 1024));
            ok.awaitAnswer(m -> m.hasWelcome());
            ok.out.onCompleted();
        }
        Status tooMany = new RawAgent(channel("host-a")).send(hello("web-4", 1)).awaitClosed();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, tooMany.getCode());
        assertTrue(tooMany.getDescription().contains("--max-vms 3"), tooMany.toString());
        admin("ops").deleteVm(DeleteVmRequest.newBuilder().setVmId("web-3").setForce(true).build());
        // 16 MiB more would make 20 MiB and 16 KiB: above the total, though within the per-VM limit.
        Status tooBig = new RawAgent(channel("host-a")).send(hello("web-4", 4096)).awaitClosed();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, tooBig.getCode());
        assertTrue(tooBig.getDescription().contains("--max-total-guest-bytes"), tooBig.toString());
        assertEquals(1, status("web-1").getCommittedEpoch());
        assertNotNull(honest);

        collector.restart();
        channels.forEach(ManagedChannel::shutdownNow);
        channels.clear();
        assertEquals(1, status("web-1").getCommittedEpoch());
        assertEquals(2, admin("viewer").listVms(ListVmsRequest.getDefaultInstance()).getVmsCount());
    }
}
