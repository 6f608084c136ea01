package io.cpstream.security;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class ClientTextTest {

    @Test
    void printableAsciiIsShownAsItIs() {
        assertEquals("'vm-1.prod_A'", ClientText.quote("vm-1.prod_A"));
    }

    @Test
    void anythingThatCouldForgeALineOrATerminalIsEscaped() {
        // A line break, an ANSI escape, a Unicode line separator, a right-to-left override and a Cyrillic look-alike.
        assertEquals("'a\\u000ab\\u001b[31mc\\u2028d\\u202ee\\u0430'",
                ClientText.quote("a\nb\u001b[31mc\u2028d\u202ee\u0430"));
    }

    @Test
    void quotesAndBackslashesAreEscapedSoEveryEscapeIsOneWeWrote() {
        assertEquals("'\\u0027\\u005cu000a'", ClientText.quote("'\\u000a"));
    }

    @Test
    void longTextIsCutAndSaysHowLongItWas() {
        String shown = ClientText.escape("x".repeat(100), 10);
        assertEquals("xxxxxxxxxx...(100 characters)", shown);
        assertEquals(ClientText.SHOWN + 2 + "...(1000 characters)".length(), ClientText.quote("y".repeat(1000)).length());
    }
}
