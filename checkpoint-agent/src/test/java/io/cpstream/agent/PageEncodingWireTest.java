package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.encoder.CorruptPageException;
import io.cpstream.encoder.PageEncoding;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * diff-encoder's {@link PageEncoding} and the wire enum {@code io.cpstream.proto.PageEncoding} are one
 * mapping, kept by the wire numbers: this module sees both, so this is where a mismatch shows.
 */
class PageEncodingWireTest {

    private static final io.cpstream.proto.PageEncoding UNSPECIFIED =
            io.cpstream.proto.PageEncoding.PAGE_ENCODING_UNSPECIFIED;

    @Test
    void everyWireEncodingMapsToExactlyOneEncodingAndBack() throws CorruptPageException {
        for (io.cpstream.proto.PageEncoding wire : wireEncodings()) {
            PageEncoding encoding = PageEncoding.fromWire(wire.getNumber());
            assertEquals(wire.getNumber(), encoding.wireNumber(), wire + " -> " + encoding + " -> back");
            assertEquals(1, Arrays.stream(PageEncoding.values()).filter(e -> e.wireNumber() == wire.getNumber()).count(),
                    () -> "encodings with the wire number of " + wire);
        }
    }

    /** Also catches two numbers swapped, which the round trip cannot: each constant is PAGE_ + its name on the wire. */
    @Test
    void everyEncodingIsTheWireEncodingOfItsName() {
        for (PageEncoding encoding : PageEncoding.values()) {
            io.cpstream.proto.PageEncoding wire = io.cpstream.proto.PageEncoding.forNumber(encoding.wireNumber());
            assertTrue(wire != null && wire != UNSPECIFIED, () -> encoding + " has wire number "
                    + encoding.wireNumber() + ", which the proto does not define");
            assertEquals("PAGE_" + encoding.name(), wire.name(), () -> "the wire number of " + encoding);
        }
    }

    @Test
    void unspecifiedAndUnknownWireNumbersAreCorruptRecords() {
        for (int number : new int[] {UNSPECIFIED.getNumber(), -1, 1000}) {
            CorruptPageException e = assertThrows(CorruptPageException.class, () -> PageEncoding.fromWire(number));
            assertEquals(CorruptPageException.Reason.MALFORMED, e.reason());
        }
    }

    private static Set<io.cpstream.proto.PageEncoding> wireEncodings() {
        return Arrays.stream(io.cpstream.proto.PageEncoding.values())
                .filter(e -> e != UNSPECIFIED && e != io.cpstream.proto.PageEncoding.UNRECOGNIZED)
                .collect(Collectors.toSet());
    }
}
