package io.cpstream.tracker.kvm;

import static io.cpstream.tracker.kvm.KvmTestSupport.assumeEmu;
import static io.cpstream.tracker.kvm.KvmTestSupport.assumeKvm;

import io.cpstream.tracker.StunContract;
import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Many stuns in a row, 1 ms apart, each checked against {@link StunContract}: stop reported within the
 * stun, every page dirty at the first harvest, outputs tagged with the stun that follows them and numbered
 * without a gap, an epoch with outputs has dirty pages, the resume stamped inside close, and the guest
 * progressing between stuns. The emulated backend ({@code emu:}) keeps the same contract. How long stuns take is {@link StunBench}'s to measure.
 */
class KvmRepeatedStunsTest {

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
        "kvm:guest=counter,mem=16m,dirty=bitmap",
        "kvm:guest=counter,mem=16m,dirty=ring,vcpus=2",
        "kvm:guest=memtouch,mem=16m,pages=64,stride=3,dirty=bitmap",
        "emu:guest=counter,mem=16m",
        "emu:guest=memtouch,mem=16m,pages=64,stride=3",
    })
    void everyStunStopsTheGuestAndLetsItGoOn(String spec) {
        if (spec.startsWith("emu:")) {
            assumeEmu();
        } else {
            assumeKvm();
        }
        try (KvmSource source = KvmSource.open(spec)) {
            source.start();
            System.out.println(spec + ": " + StunContract.check(source, 200, Duration.ofMillis(1)));
        }
    }
}
