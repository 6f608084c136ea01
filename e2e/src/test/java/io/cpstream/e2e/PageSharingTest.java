package io.cpstream.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.agent.Agent;
import io.cpstream.collector.CollectorConfig;
import io.cpstream.collector.CollectorServer;
import io.cpstream.collector.client.AdminClient;
import io.cpstream.proto.PromoteResponse;
import io.cpstream.proto.VmStatus;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 19: VMs cloned from one image (sim guests of one image-seed, each writing on its own) replicate to a
 * collector that stores identical pages once. Their standbys share most pages, every commit's image is checked
 * against the primary's digest (verify mode), and every promotion's snapshot has its primary's digest.
 */
class PageSharingTest {

    private static final int VMS = 4;

    @TempDir
    Path dataDir;

    @Test
    void clonesShareTheirPagesAndPromoteToTheirPrimariesImages() throws Exception {
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        CollectorConfig config = CollectorConfig.of("127.0.0.1", 0, dataDir)
                .withQuotas(CollectorConfig.Quotas.DEFAULT.withPageSharing(true));
        List<Agent> agents = new ArrayList<>();
        try (CollectorServer collector = CollectorServer.start(config, meters)) {
            try {
                for (int vm = 0; vm < VMS; vm++) {
                    agents.add(Replication.agent(collector.port(), "clone" + vm,
                            Replication.sim("mem=4m,workload=mixed,rate=5,outputs=0,seed=" + (vm + 1)
                                    + ",image-seed=77")));
                }
                for (Agent agent : agents) {
                    Replication.awaitAcked(agent, 3);
                }
                long sharedPages = 0;
                long saved = 0;
                Thread.sleep(1100); // status counts shared pages at most once a second
                try (AdminClient admin = new AdminClient("127.0.0.1:" + collector.port())) {
                    for (VmStatus status : admin.list()) {
                        sharedPages += status.getSharedPages();
                        saved += status.getSharedSavedBytes();
                    }
                    // 1024 pages each, one in eight zero; 5 writes a second change a few hundred at most.
                    assertTrue(sharedPages > VMS * 512, "shared pages " + sharedPages + "; store: "
                            + meters.get("cpstream.collector.shared.slots").gauge().value() + " slots, "
                            + meters.get("cpstream.collector.shared.references").gauge().value() + " references");
                    assertTrue(saved > (VMS - 1) * 512L * 4096, "saved " + saved);
                    double total = meters.get("cpstream.collector.shared.saved.bytes.total").gauge().value();
                    // The per-VM figures are counted up to a second before the total, while the clones diverge.
                    assertTrue(Math.abs(total - saved) < 0.1 * saved, "total saved " + total + ", per VM " + saved);
                    assertEquals(0, Replication.count(meters, "cpstream.collector.digest.mismatches"));
                    assertTrue(Replication.count(meters, "cpstream.collector.digests.verified") >= 3 * VMS);
                    for (int vm = 0; vm < VMS; vm++) {
                        PromoteResponse promoted = admin.promote("clone" + vm, true);
                        assertTrue(promoted.getPrimaryImageSha256().size() == 32, "the agent sent its digest");
                        assertEquals(promoted.getPrimaryImageSha256(), promoted.getImageSha256(),
                                "clone" + vm + ": the snapshot is its primary's image at epoch "
                                        + promoted.getPromotedEpoch());
                    }
                }
            } finally {
                for (Agent agent : agents) {
                    agent.close();
                }
            }
        }
    }
}
