package io.cpstream.collector;

import static io.cpstream.collector.RawAgent.hello;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.Heartbeat;
import io.cpstream.proto.LeaseGrant;
import io.cpstream.proto.ReplicationGrpc;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Lease call: the primary's heartbeats, beside its replication stream. Only the agent attached by the stream
 * (the holder of its Welcome's token) earns grants; a standby busy committing still answers at once, because
 * liveness never waits for the standby's lock; once the stream is gone, no heartbeat earns anything.
 */
class LeaseCallTest {

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

    /** A Lease call whose grants land in a queue. */
    private final class Call {
        final BlockingQueue<LeaseGrant> grants = new LinkedBlockingQueue<>();
        final StreamObserver<Heartbeat> heartbeats = ReplicationGrpc.newStub(collector.channel())
                .lease(new StreamObserver<>() {
                    @Override
                    public void onNext(LeaseGrant grant) {
                        grants.add(grant);
                    }

                    @Override
                    public void onError(Throwable t) {
                    }

                    @Override
                    public void onCompleted() {
                    }
                });

        LeaseGrant beat(long sequence, String vm, ByteString token) throws InterruptedException {
            heartbeats.onNext(Heartbeat.newBuilder().setSequence(sequence).setVmId(vm).setLeaseToken(token).build());
            return grants.poll(500, TimeUnit.MILLISECONDS);
        }
    }

    private static ByteString welcomeToken(RawAgent agent) {
        CollectorMessage welcome = agent.awaitAnswer(CollectorMessage::hasWelcome);
        ByteString token = welcome.getWelcome().getLeaseToken();
        assertEquals(16, token.size(), "a fresh random token");
        return token;
    }

    @Test
    void onlyTheAttachedAgentsTokenEarnsAGrant() throws Exception {
        RawAgent agent = collector.agent().send(hello("vm", 4));
        ByteString token = welcomeToken(agent);
        Call call = new Call();

        assertEquals(null, call.beat(1, "vm", ByteString.copyFromUtf8("guessed token....")), "a wrong token");
        assertEquals(null, call.beat(2, "other-vm", token), "a vm this collector does not hold");
        LeaseGrant grant = call.beat(3, "vm", token);
        assertNotNull(grant);
        assertEquals(3, grant.getSequence(), "the grant echoes the heartbeat it answers");
        assertTrue(grant.getValidMicros() > 0);

        // A second stream replaces the first: the old token earns nothing any more.
        RawAgent second = collector.agent().send(hello("vm", 4));
        ByteString newer = welcomeToken(second);
        assertFalse(newer.equals(token));
        assertEquals(null, call.beat(4, "vm", token), "the replaced stream's token");
        assertNotNull(call.beat(5, "vm", newer));

        // The stream ends: nothing renews the lease, whatever the token.
        second.out.onCompleted();
        org.awaitility.Awaitility.await().until(() -> collector.standby("vm").status().getState()
                != io.cpstream.proto.VmState.VM_REPLICATING);
        assertEquals(null, call.beat(6, "vm", newer), "no stream attached");
    }

    @Test
    void aStandbyBusyUnderItsLockStillRenewsTheLease() throws Exception {
        RawAgent agent = collector.agent().send(hello("vm", 4));
        ByteString token = welcomeToken(agent);
        Call call = new Call();
        Standby standby = collector.standby("vm");
        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        // What a long commit does: hold the standby's lock (applying, verifying the image).
        Thread busy = Thread.ofPlatform().start(() -> {
            synchronized (standby) {
                holding.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        try {
            holding.await();
            for (int sequence = 1; sequence <= 5; sequence++) {
                assertNotNull(call.beat(sequence, "vm", token), "heartbeat " + sequence + " answered while the "
                        + "standby is busy");
            }
        } finally {
            release.countDown();
            busy.join();
        }
    }
}
