package io.cpstream.agent.output;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** How the sink's fencing check uses its authority: the verdicts, how often it asks, and what holds while it cannot. */
class FencingCheckTest {

    private final AtomicLong epoch = new AtomicLong(3);
    private final AtomicInteger asked = new AtomicInteger();
    private volatile boolean reachable = true;
    private final FencingCheck check = new FencingCheck(vm -> {
        asked.incrementAndGet();
        if (!reachable) {
            throw new IOException("down");
        }
        return vm.equals("web-1") ? epoch.get() : -1;
    });

    @Test
    void judgesByTheAuthoritysEpoch() {
        assertEquals(FencingCheck.Outcome.ALLOWED, check.check("web-1", 3).outcome());
        assertEquals(FencingCheck.Outcome.TAKEN_OVER, check.check("web-1", 2).outcome());
        assertEquals(FencingCheck.Outcome.NOT_GRANTED, check.check("web-1", 4).outcome());
        assertEquals(FencingCheck.Outcome.UNAVAILABLE, check.check("web-2", 0).outcome(), "no epoch yet");
    }

    @Test
    void asksOnceASecondForTheConfirmedEpochAndAtOnceForAnyOther() {
        check.check("web-1", 3);
        check.check("web-1", 3);
        check.check("web-1", 3);
        assertEquals(1, asked.get(), "the confirmed epoch is not asked about again within a second");
        epoch.set(4); // a promotion
        assertEquals(FencingCheck.Outcome.ALLOWED, check.check("web-1", 4).outcome(), "the successor, asked at once");
        assertEquals(2, asked.get());
        assertEquals(FencingCheck.Outcome.TAKEN_OVER, check.check("web-1", 3).outcome(), "the old primary, asked again");
    }

    @Test
    void whileTheAuthorityIsDownItsLastAnswerHolds() {
        check.check("web-1", 3);
        reachable = false;
        epoch.set(4);
        // Past the second, so it is asked, and cannot answer.
        FencingCheck stale = new FencingCheck(vm -> {
            throw new IOException("down");
        });
        assertEquals(FencingCheck.Outcome.UNAVAILABLE, stale.check("web-1", 3).outcome(), "nothing confirmed yet");
        assertEquals(FencingCheck.Outcome.ALLOWED, check.check("web-1", 3).outcome());
        assertEquals(FencingCheck.Outcome.TAKEN_OVER, check.check("web-1", 2).outcome());
        assertEquals(FencingCheck.Outcome.UNAVAILABLE, check.check("web-1", 4).outcome(), "never confirmed");
        reachable = true;
        assertEquals(FencingCheck.Outcome.ALLOWED, check.check("web-1", 4).outcome());
        assertEquals(FencingCheck.Outcome.TAKEN_OVER, check.check("web-1", 3).outcome());
    }
}
