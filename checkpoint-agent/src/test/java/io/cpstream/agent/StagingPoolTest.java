package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class StagingPoolTest {

    private static final long MIB = 1 << 20;

    @Test
    void aPreparedBufferIsTakenWithoutAllocatingInsideTheStun() {
        try (StagingPool pool = new StagingPool(2)) {
            pool.prepare(3 * MIB);
            try (StagingPool.Lease lease = pool.take(3 * MIB)) {
                assertFalse(lease.allocated());
                assertEquals(3 * MIB, lease.segment().byteSize());
            }
            // Given back, it serves any smaller checkpoint too.
            try (StagingPool.Lease lease = pool.take(MIB)) {
                assertFalse(lease.allocated());
            }
        }
    }

    @Test
    void aDirtySetLargerThanPreparedStillGetsABufferAndSaysSo() {
        try (StagingPool pool = new StagingPool(2)) {
            pool.prepare(MIB);
            try (StagingPool.Lease lease = pool.take(5 * MIB)) {
                assertTrue(lease.allocated());
                lease.segment().fill((byte) 1); // the whole slice is usable
            }
            pool.prepare(5 * MIB); // the buffer given back already fits
            try (StagingPool.Lease lease = pool.take(5 * MIB)) {
                assertFalse(lease.allocated());
            }
        }
    }

    @Test
    void buffersOnLoanStayValidWhileThePoolRetiresItsSmallestIdleOnes() {
        try (StagingPool pool = new StagingPool(1)) {
            StagingPool.Lease big = pool.take(8 * MIB);
            StagingPool.Lease small = pool.take(MIB);
            pool.prepare(2 * MIB);
            small.close();
            // Two idle buffers, keep is 1: the smallest went; the loaned one is untouched.
            big.segment().fill((byte) 7);
            assertEquals(7, big.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 8 * MIB - 1));
            big.close();
            try (StagingPool.Lease again = pool.take(8 * MIB)) {
                assertFalse(again.allocated());
            }
        }
    }
}
