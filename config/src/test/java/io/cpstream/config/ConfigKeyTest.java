package io.cpstream.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Keys write their defaults the way they read them, and say what is wrong with a bad value. */
class ConfigKeyTest {

    enum Split { COPY_ALL, HISTORY }

    @Test
    void aDefaultReadsBackAsItself() {
        ConfigKey<Long> size = ConfigKey.of("delta-cache", 64L << 20, "doc", Parsers::size).writtenAs(Parsers::writeSize);
        ConfigKey<Split> split = ConfigKey.of("split", Split.HISTORY, "doc", Parsers.choice(Split.class, "a split"));
        ConfigKey<Double> mbps = ConfigKey.of("max-mbps", 0.0, "doc", Parsers.decimalAtLeast(0));
        ConfigKey<HostPort> listen = ConfigKey.of("listen", new HostPort("0.0.0.0", 7700), "doc", Parsers::address);
        assertEquals("64m", size.defaultText());
        assertEquals("history", split.defaultText());
        assertEquals("0", mbps.defaultText());
        assertEquals("0.0.0.0:7700", listen.defaultText());
        for (ConfigKey<?> key : new ConfigKey<?>[] {size, split, mbps, listen}) {
            assertEquals(key.defaultValue(), key.parse(key.defaultText()), key.name());
        }
        assertEquals(Split.class, split.type(), "an enum key's type is the enum");
        assertEquals("--delta-cache", size.option());
    }

    @Test
    void keysWithoutADefault() {
        ConfigKey<String> vm = ConfigKey.required("vm", String.class, "doc", Parsers::text);
        ConfigKey<Double> stun = ConfigKey.optional("max-stun-ms", Double.class, "doc", Parsers.decimalAbove(0));
        assertTrue(vm.isRequired());
        assertNull(vm.defaultText());
        assertNull(stun.defaultValue());
        assertThrows(IllegalArgumentException.class, () -> ConfigKey.of("Epoch_ms", 1L, "doc", Parsers.atLeast(1)));
    }

    @Test
    void badValuesAreNamedWithWhatIsWrong() {
        Map<Runnable, String> cases = Map.of(
                () -> Parsers.atLeast(1).apply("0"), "'0' must be at least 1",
                () -> Parsers.atLeast(0).apply("ten"), "'ten' is not a whole number",
                () -> Parsers.port("70000"), "'70000' is not a port number (0 to 65535)",
                () -> Parsers.size("64x"), "'64x' is not a size (examples: 4096, 512k, 64m, 1g)",
                () -> Parsers.address("nowhere"), "'nowhere' is not HOST:PORT",
                () -> Parsers.flag("maybe"), "'maybe' is not a boolean",
                () -> Parsers.decimalAbove(0).apply("0"), "'0' must be more than 0",
                () -> Parsers.decimalAtLeast(0).apply("NaN"), "'NaN' is not a number",
                () -> Parsers.choice(Split.class, "a split").apply("all"), "'all' is not a split; use copy-all or history");
        cases.forEach((parse, message) ->
                assertEquals(message, assertThrows(IllegalArgumentException.class, parse::run).getMessage()));
    }

    @Test
    void valuesInEveryForm() {
        assertEquals(1L << 30, Parsers.size("1G"));
        assertEquals("512k", Parsers.writeSize(512 << 10));
        assertEquals("1000", Parsers.writeSize(1000));
        assertEquals(Split.COPY_ALL, Parsers.choice(Split.class, "a split").apply("Copy-All"));
        assertEquals(new HostPort("::1", 7700), Parsers.address("[::1]:7700"));
        assertEquals("[::1]:7700", new HostPort("::1", 7700).target());
        assertEquals(false, Parsers.flag("FALSE"));
    }
}
