package io.cpstream.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class StagingPoolTest {

    private static final long MIB = 1 << 20;

    @Test
    void aReservedBufferIsSizedInsideTheStunWithoutAllocatingAndIsReusedAfterwards() {
        try (StagingPool pool = new StagingPool(2)) {
            long address;
            try (StagingPool.Lease lease = pool.reserve(3 * MIB)) {
                lease.fit(3 * MIB);
                assertFalse(lease.allocated());
                assertEquals(3 * MIB, lease.segment().byteSize());
                address = lease.segment().address();
            }
            // Given back, it serves any smaller checkpoint too: the same memory, already faulted in.
            try (StagingPool.Lease lease = pool.reserve(MIB)) {
                lease.fit(MIB);
                assertFalse(lease.allocated());
                assertEquals(MIB, lease.segment().byteSize());
                assertEquals(address, lease.segment().address());
            }
        }
    }

    @Test
    void aDirtySetLargerThanReservedStillGetsABufferAndSaysSo() {
        try (StagingPool pool = new StagingPool(2)) {
            try (StagingPool.Lease lease = pool.reserve(MIB)) {
                lease.fit(5 * MIB);
                assertTrue(lease.allocated());
                lease.segment().fill((byte) 1); // the whole slice is usable
            }
            // Both buffers went back; the larger one now fits a reservation of that size.
            try (StagingPool.Lease lease = pool.reserve(5 * MIB)) {
                lease.fit(5 * MIB);
                assertFalse(lease.allocated());
            }
        }
    }

    @Test
    void growingAfterTheStunKeepsWhatWasCopiedAndAllocatesOutsideIt() {
        try (StagingPool pool = new StagingPool(2)) {
            try (StagingPool.Lease lease = pool.reserve(MIB)) {
                long capacity = lease.capacity();
                lease.fit(capacity);
                lease.segment().fill((byte) 5);
                lease.grow(3 * capacity);
                assertFalse(lease.allocated(), "grow is not an allocation inside the stun");
                assertEquals(3 * capacity, lease.segment().byteSize());
                assertEquals(5, lease.segment().get(ValueLayout.JAVA_BYTE, 0));
                assertEquals(5, lease.segment().get(ValueLayout.JAVA_BYTE, capacity - 1));
                assertEquals(0, lease.segment().get(ValueLayout.JAVA_BYTE, capacity));
                lease.segment().fill((byte) 6); // the whole grown slice is usable
            }
            // Both went back: a reservation of the grown size is served without allocating.
            try (StagingPool.Lease lease = pool.reserve(3 * MIB)) {
                lease.fit(3 * MIB);
                assertFalse(lease.allocated());
            }
        }
    }

    @Test
    void buffersOnLoanStayValidWhileThePoolRetiresItsSmallestIdleOnes() {
        try (StagingPool pool = new StagingPool(1)) {
            StagingPool.Lease big = pool.reserve(8 * MIB);
            big.fit(8 * MIB);
            StagingPool.Lease small = pool.reserve(MIB);
            pool.reserve(2 * MIB).close();
            small.close();
            // Two idle buffers, keep is 1: the smallest went; the loaned one is untouched.
            big.segment().fill((byte) 7);
            assertEquals(7, big.segment().get(ValueLayout.JAVA_BYTE, 8 * MIB - 1));
            big.close();
            try (StagingPool.Lease again = pool.reserve(8 * MIB)) {
                again.fit(8 * MIB);
                assertFalse(again.allocated());
            }
        }
    }
}
