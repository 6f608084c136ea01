package io.cpstream.tracker;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class OutputTapTest {

    /** Defaults computed from other methods the tap forwards, so they come out the same without an override. */
    /** Defaults computed from other methods (named with their parameter count), which a decorator need not forward. */
    private static final Set<String> DERIVED = Set.of("memoryBytes/0", "pollOutputs/0");

    /**
     * The tap stands in for the guest wherever a guest is expected (demo, run, bench), so every capability
     * a source may override must reach the guest behind it; a default the tap inherited instead would hide
     * the guest's answer, such as a KVM guest's fault from a restored VM's check.
     */
    @Test
    void forwardsEveryCapabilityASourceMayOverride() {
        List<String> inherited = Arrays.stream(MemorySource.class.getMethods())
                .filter(Method::isDefault)
                .filter(m -> !DERIVED.contains(m.getName() + "/" + m.getParameterCount()))
                .filter(m -> !overridden(m))
                .map(Method::getName)
                .toList();
        assertTrue(inherited.isEmpty(), "OutputTap does not forward " + inherited);
    }

    private static boolean overridden(Method method) {
        try {
            OutputTap.class.getDeclaredMethod(method.getName(), method.getParameterTypes());
            return true;
        } catch (NoSuchMethodException e) {
            return false;
        }
    }
}
