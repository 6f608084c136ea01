package io.cpstream.collector;

import static io.cpstream.collector.RawAgent.batch;
import static io.cpstream.collector.RawAgent.begin;
import static io.cpstream.collector.RawAgent.filled;
import static io.cpstream.collector.RawAgent.hello;
import static io.cpstream.collector.RawAgent.incremental;
import static io.cpstream.collector.RawAgent.page;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.collector.lease.LeaseAuthority;
import io.cpstream.collector.lease.LocalLeases;
import io.cpstream.encoder.ImageDigest;
import io.cpstream.proto.CollectorMessage;
import io.cpstream.proto.PromoteResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.lang.reflect.Proxy;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The commit path's defects, each reproduced the way it happens (I1): a commit whose apply began and failed, a
 * device state that does not match its digest or is missing, and a fencing watch firing while a standby is
 * being opened.
 */
class CommitPathTest {

    private static final int PAGES = 16;
    private static final byte[] STATE_1 = "device state of epoch 1".getBytes(StandardCharsets.UTF_8);
    private static final byte[] STATE_2 = "device state of epoch 2".getBytes(StandardCharsets.UTF_8);

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

    /** Epoch 1: every page filled with 1, device state {@link #STATE_1}. */
    private RawAgent commitEpochOne() {
        RawAgent agent = collector.agent().send(hello("vm", PAGES)).send(begin(1, true, PAGES));
        for (int i = 0; i < PAGES; i++) {
            agent.send(batch(1, page(i, (byte) 1)));
        }
        agent.sendCommit(1, PAGES, STATE_1);
        agent.awaitAnswer(CollectorMessage::hasAck);
        return agent;
    }

    /** Epoch 2 on epoch 1: pages 0-3 filled with 2, device state {@link #STATE_2}. */
    private static RawAgent sendEpochTwo(RawAgent agent) {
        agent.send(incremental(2, 1, 4));
        for (int i = 0; i < 4; i++) {
            agent.send(batch(2, page(i, (byte) 2)));
        }
        return agent.sendCommit(2, 4, STATE_2);
    }

    private long committedEpoch() {
        return collector.committedEpoch("vm");
    }

    private PromoteResponse promote() {
        return collector.promote("vm", true);
    }

    /** SHA-256 of the guest memory after epoch {@code epoch} of this test. */
    private static byte[] imageAt(long epoch) {
        byte[] image = new byte[PAGES * RawAgent.PAGE];
        for (int i = 0; i < PAGES; i++) {
            System.arraycopy(filled(epoch == 2 && i < 4 ? (byte) 2 : (byte) 1), 0, image, i * RawAgent.PAGE, RawAgent.PAGE);
        }
        return ImageDigest.sha256(image);
    }

    /**
     * A promotion snapshot is one epoch, never a mix: memory and device state of the same epoch, the one it names.
     */
    /** Makes every append to the standby's commit log fail: a directory where the file was (kept aside). */
    private Path blockCommitLog() throws Exception {
        Path log = dataDir.resolve("vms/vm/commits.log");
        Files.move(log, log.resolveSibling("commits.log.aside"));
        Files.createDirectories(log.resolve("blocker"));
        return log;
    }

    private static void unblockCommitLog(Path log) throws Exception {
        Files.delete(log.resolve("blocker"));
        Files.delete(log);
        Files.move(log.resolveSibling("commits.log.aside"), log);
    }

    private static void assertWhole(PromoteResponse promoted) throws Exception {
        Path snapshot = Path.of(promoted.getSnapshotPath());
        long epoch = promoted.getPromotedEpoch();
        assertArrayEquals(imageAt(epoch), ImageDigest.sha256(Files.readAllBytes(snapshot.resolve("memory.img"))),
                "the snapshot's memory is epoch " + epoch);
        assertArrayEquals(epoch == 2 ? STATE_2 : STATE_1, Files.readAllBytes(snapshot.resolve("device-state.bin")),
                "the snapshot's device state is epoch " + epoch);
    }

    /**
     * The commit of epoch 2 fails after its pages reached the image (its commit log cannot be appended to). Neither a
     * promotion nor the next checkpoint may then treat the image as epoch 1: the standby completes epoch 2 from
     * its sealed journal first, and refuses while it cannot.
     */
    @Test
    void anApplyThatFailsMidwayIsFinishedFromTheJournalOrRefusedNeverPromotedAsAMix() throws Exception {
        commitEpochOne().out.onCompleted();
        Path log = blockCommitLog();

        RawAgent failing = sendEpochTwo(collector.agent().send(hello("vm", PAGES)));
        assertEquals(Status.Code.INTERNAL, failing.awaitClosed().getCode());

        // While epoch 2 cannot be completed: no promotion, and no new stream builds on the image.
        StatusRuntimeException refused = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                this::promote);
        assertNotEquals(Status.Code.OK, refused.getStatus().getCode());
        assertEquals(Status.Code.INTERNAL, collector.agent().send(hello("vm", PAGES)).awaitClosed().getCode(),
                "a stream may not start on an image that holds half of epoch 2");

        unblockCommitLog(log);
        RawAgent again = collector.agent().send(hello("vm", PAGES));
        CollectorMessage welcome = again.awaitAnswer(CollectorMessage::hasWelcome);
        assertEquals(2, welcome.getWelcome().getCommittedEpoch(), "the sealed epoch 2 was completed, not truncated");
        again.out.onCompleted();

        PromoteResponse promoted = promote();
        assertEquals(2, promoted.getPromotedEpoch());
        assertWhole(promoted);
    }

    /** The same failure, and then a promotion right away: it completes epoch 2 itself, or it refuses. */
    @Test
    void aPromotionAfterAFailedApplyPromotesTheSealedEpochWhole() throws Exception {
        commitEpochOne().out.onCompleted();
        Path log = blockCommitLog();
        assertEquals(Status.Code.INTERNAL, sendEpochTwo(collector.agent().send(hello("vm", PAGES))).awaitClosed()
                .getCode());
        unblockCommitLog(log);

        PromoteResponse promoted = promote();
        assertEquals(2, promoted.getPromotedEpoch(), "the sealed epoch, completed from its journal");
        assertWhole(promoted);
    }

    /** A device state that does not match the commit's digest is never committed: the epoch is asked for again. */
    @Test
    void aDeviceStateThatDoesNotMatchItsDigestIsNotCommitted() throws Exception {
        RawAgent agent = commitEpochOne();
        byte[] corrupted = STATE_2.clone();
        corrupted[3] ^= 1; // flipped on the way
        agent.send(incremental(2, 1, 1)).send(batch(2, page(0, (byte) 2)))
                .send(RawAgent.deviceState(2, corrupted)).send(RawAgent.commit(2, 1, STATE_2));
        CollectorMessage resync = agent.awaitAnswer(CollectorMessage::hasResync);
        assertEquals(1, resync.getResync().getCommittedEpoch());
        assertEquals(1, committedEpoch());

        sendEpochTwo(agent.send(incremental(3, 1, 0)).sendCommit(3, 0, STATE_1));
        await().atMost(Duration.ofSeconds(30)).until(() -> committedEpoch() == 3);
        agent.out.onCompleted();
        PromoteResponse promoted = promote();
        assertArrayEquals(STATE_1, Files.readAllBytes(Path.of(promoted.getSnapshotPath()).resolve("device-state.bin")));
    }

    /** A commit without a device state, or without its digest, breaks the protocol: refused, nothing committed. */
    @Test
    void aCommitWithoutADeviceStateIsRefused() throws Exception {
        commitEpochOne().out.onCompleted();
        Status noState = collector.agent().send(hello("vm", PAGES)).send(incremental(2, 1, 1))
                .send(batch(2, page(0, (byte) 2))).send(RawAgent.commit(2, 1, new byte[0])).awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, noState.getCode());
        assertTrue(noState.getDescription().contains("device state"), noState.getDescription());

        Status noDigest = collector.agent().send(hello("vm", PAGES)).send(incremental(2, 1, 1))
                .send(batch(2, page(0, (byte) 2))).send(RawAgent.deviceState(2, STATE_2))
                .send(io.cpstream.proto.AgentMessage.newBuilder().setCommit(io.cpstream.proto.CheckpointCommit
                        .newBuilder().setEpoch(2).setPageCount(1).setDeviceStateBytes(STATE_2.length)).build())
                .awaitClosed();
        assertEquals(Status.Code.INVALID_ARGUMENT, noDigest.getCode());
        assertEquals(1, committedEpoch());
    }

    /**
     * A fencing watch may fire as soon as it is set, on ZooKeeper's thread: a standby being opened must be whole
     * before its watch is set. Here the authority fires every watch at once, while the registry opens a standby.
     */
    @Test
    void aFencingWatchThatFiresAtOnceFindsTheStandbyWhole() throws Exception {
        commitEpochOne().out.onCompleted();
        collector.close();
        AtomicLong heard = new AtomicLong();
        LocalLeases local = new LocalLeases();
        // The lone collector's authority, except that every watch fires at once: raised elsewhere, right away.
        LeaseAuthority eager = (LeaseAuthority) Proxy.newProxyInstance(LeaseAuthority.class.getClassLoader(),
                new Class<?>[] {LeaseAuthority.class}, (proxy, method, args) -> {
                    if (method.getName().equals("watch")) {
                        ((LongConsumer) args[1]).accept(7);
                        heard.incrementAndGet();
                        return null;
                    }
                    return method.invoke(local, args);
                });
        try (StandbyRegistry registry = StandbyRegistry.open(CollectorConfig.of("127.0.0.1", 0, dataDir), "test",
                new SimpleMeterRegistry(), eager)) {
            assertEquals(1, heard.get());
            assertEquals(1, registry.existing("vm").committedEpoch());
        }
        collector = new TestCollector(dataDir);
    }
}
