package io.cpstream.tracker.kvm;

import static io.cpstream.tracker.kvm.KvmTestSupport.assumeKvm;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Many stuns in a row work, and reports their timing. No threshold: this machine is shared and noisy,
 * so timings are printed (see target/surefire-reports/*-output.txt), never judged.
 */
class KvmStunTimingTest {

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
        "kvm:guest=counter,mem=16m,dirty=bitmap",
        "kvm:guest=counter,mem=16m,dirty=ring,vcpus=2",
        "kvm:guest=memtouch,mem=16m,pages=64,stride=3,dirty=bitmap",
    })
    void repeatedStunsStopEveryVcpu(String spec) {
        assumeKvm();
        StunBench.Result result = StunBench.run(spec, 200);
        System.out.println(result);
        assertTrue(result.stopP50() > 0);
    }
}
