package io.cpstream.agent.output;

import io.cpstream.coordination.Coordinator;
import io.cpstream.coordination.FencingEpochs;
import java.io.IOException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The fencing authority of collectors and agents run with ZooKeeper: each VM's fencing node, the one promotions and
 * primaries going on alone raise. A read is waited for at most {@code askMillis}, since a question to the authority
 * holds a primary's write at the sink (which then answers "unavailable") and Curator has no per-call deadline: while
 * the session is lost unnoticed, a read retries for many seconds.
 */
public final class ZooKeeperFencing implements FencingAuthority, AutoCloseable {

    private final Coordinator zookeeper;
    private final FencingEpochs epochs;
    private final long askMillis;
    private final ExecutorService reads = Executors.newVirtualThreadPerTaskExecutor();

    /** Over {@code zookeeper}'s session, which stays the caller's to close. */
    public ZooKeeperFencing(Coordinator zookeeper, long askMillis) {
        this.zookeeper = zookeeper;
        this.epochs = new FencingEpochs(zookeeper);
        this.askMillis = askMillis;
    }

    @Override
    public long fencingEpoch(String vm) throws IOException {
        if (!zookeeper.connected()) {
            throw new IOException(zookeeper + " is not connected");
        }
        Future<Long> read = reads.submit(() -> epochs.current(vm));
        try {
            return read.get(askMillis, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new IOException(e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            read.cancel(true);
            throw new IOException(zookeeper + " did not answer within " + askMillis + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while asking " + zookeeper, e);
        }
    }

    @Override
    public void close() {
        reads.shutdownNow();
    }

    @Override
    public String toString() {
        return zookeeper.toString();
    }
}
