package io.cpstream.tracker;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Decorators (the demo's {@link OutputTap}, test guests) stand in for a guest wherever a guest is expected, so
 * every capability a source or a stun may override must reach the guest behind them; a default the decorator
 * inherited instead would hide the guest's answer, such as a KVM guest's fault from a restored VM's check.
 */
class ForwardingSourceTest {

    /** Defaults computed from other methods (named with their parameter count), which need not be forwarded. */
    private static final Set<String> DERIVED = Set.of("memoryBytes/0", "pollOutputs/0");

    @Test
    void aForwardingSourceForwardsEveryCapabilityASourceMayOverride() {
        assertForwardsEveryDefault(MemorySource.class, ForwardingSource.class);
    }

    @Test
    void aForwardingStunForwardsEveryCapabilityAStunMayOverride() {
        assertForwardsEveryDefault(Stun.class, ForwardingStun.class);
    }

    private static void assertForwardsEveryDefault(Class<?> type, Class<?> forwarding) {
        List<String> inherited = Arrays.stream(type.getMethods())
                .filter(Method::isDefault)
                .filter(m -> !DERIVED.contains(m.getName() + "/" + m.getParameterCount()))
                .filter(m -> !declares(forwarding, m))
                .map(Method::getName)
                .toList();
        assertTrue(inherited.isEmpty(), forwarding.getSimpleName() + " does not forward " + inherited);
    }

    private static boolean declares(Class<?> forwarding, Method method) {
        try {
            forwarding.getDeclaredMethod(method.getName(), method.getParameterTypes());
            return true;
        } catch (NoSuchMethodException e) {
            return false;
        }
    }
}
