package io.cpstream.encoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The encoder skips the delta pass for a page rewritten wholesale (every sampled word changed) and still finds the
 * delta of pages whose changes line up with a regular stride, which a sample at fixed offsets would mistake for one.
 */
class WholesaleRewriteTest {

    private static final int PAGE = 4096;

    @Test
    void aPageOfFreshRandomBytesTravelsWhole() {
        SplittableRandom random = new SplittableRandom(7);
        byte[] base = bytes(random);
        byte[] page = bytes(random);
        EncodedPage encoded = new PageEncoder(PAGE).encode(MemorySegment.ofArray(page), MemorySegment.ofArray(base), 3);
        assertEquals(PageEncoding.FULL, encoded.encoding());
    }

    @Test
    void oneChangedWordInEveryStripeAtAnyStrideIsStillADelta() {
        SplittableRandom random = new SplittableRandom(8);
        for (int stride : new int[] {64, 128, 256}) {
            for (int phase = 0; phase < stride; phase += 8) {
                byte[] base = bytes(random);
                byte[] page = base.clone();
                for (int at = phase; at + 8 <= PAGE; at += stride) {
                    page[at] ^= 0x5A;
                    page[at + 7] ^= 0x11;
                }
                EncodedPage encoded = new PageEncoder(PAGE).encode(MemorySegment.ofArray(page),
                        MemorySegment.ofArray(base), 3);
                assertTrue(encoded.encoding().isDelta(), "stride " + stride + ", phase " + phase + ": " + encoded.encoding());
            }
        }
    }

    private static byte[] bytes(SplittableRandom random) {
        byte[] bytes = new byte[PAGE];
        random.nextBytes(bytes);
        return bytes;
    }
}
