package io.cpstream.tracker.kvm;

import static io.cpstream.tracker.kvm.KvmTestSupport.awaitOutput;
import static io.cpstream.tracker.kvm.KvmTestSupport.memoryImage;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.MemorySources;
import io.cpstream.tracker.SourceSpec;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The emulated backend ({@code emu:}): the KVM guests on Unicorn. Dirty tracking is exact (a shadow image
 * kept from the harvested pages equals guest memory at every stun), memory and device state are of one
 * instant, and a checkpoint restores into a fresh emulated guest that continues the output stream.
 */
class EmuCheckpointTest {

    @BeforeEach
    void requireEmulator() {
        KvmTestSupport.assumeEmu();
    }

    @ParameterizedTest
    @ValueSource(strings = {"emu:guest=counter,mem=8m,area=64", "emu:guest=memtouch,mem=8m,pages=8,stride=5"})
    void theImageBuiltFromHarvestedPagesEqualsGuestMemoryAtEveryStun(String spec) throws Exception {
        try (KvmSource guest = (KvmSource) MemorySources.open(spec)) {
            assertEquals("emu", guest.kind());
            byte[] shadow = new byte[(int) guest.memoryBytes()];
            MemorySegment shadowSegment = MemorySegment.ofArray(shadow);
            guest.start();
            List<GuestOutput> outputs = new ArrayList<>();
            long expected = spec.contains("counter") ? 1 : 0; // the counter emits 1, 2, ...; memtouch its step 0, 1, ...
            for (int stunNo = 0; stunNo < 40; stunNo++) {
                awaitOutput(guest, outputs, out -> true);
                try (var stun = guest.stun()) {
                    BitSet dirty = stun.harvestDirty();
                    if (stunNo == 0) {
                        assertEquals(guest.pageCount(), dirty.cardinality(), "every page is dirty before the first harvest");
                    } else {
                        assertFalse(dirty.isEmpty(), "the guest ran and wrote between two stuns");
                        // Outside the data region the guests write only their stack and variables: a few pages.
                        int outside = dirty.get(0, GuestAbi.firstDataPage()).cardinality();
                        assertTrue(outside <= 8, "pages written outside the data region: " + outside);
                        if (spec.contains("counter")) {
                            assertTrue(dirty.cardinality() <= 64 + 8, "the counter writes its 64-page area: " + dirty);
                        }
                    }
                    for (int page = dirty.nextSetBit(0); page >= 0; page = dirty.nextSetBit(page + 1)) {
                        guest.copyPage(page, shadowSegment, (long) page * guest.pageSize());
                    }
                    byte[] actual = memoryImage(guest);
                    int at = stunNo;
                    assertEquals(-1, Arrays.mismatch(shadow, actual),
                            () -> "stun " + at + " missed a write at page " + Arrays.mismatch(shadow, actual) / 4096);
                    KvmTestSupport.OutputCounters counters = KvmTestSupport.OutputCounters.of(stun.deviceState());
                    if (spec.contains("counter")) {
                        // The counter writes n into page n % area, then emits n: memory holds the last emitted value.
                        long n = counters.emitted();
                        long word = ByteBuffer.wrap(actual).order(ByteOrder.LITTLE_ENDIAN)
                                .getLong((int) (GuestAbi.DATA_GPA + (n % 64) * GuestAbi.PAGE_SIZE));
                        assertEquals(n, word, "memory and device state are of the same instant");
                    }
                }
                outputs.addAll(guest.pollOutputs());
                for (GuestOutput out : outputs) {
                    assertEquals(expected++, out.longValue(), "outputs in order, none lost");
                }
                outputs.clear();
            }
            assertTrue(guest.fault().isEmpty(), () -> "guest faulted: " + guest.fault());
        }
    }

    @Test
    void restoredCounterContinuesAfterTheLastCheckpointedOutput() {
        String spec = "emu:guest=counter,mem=8m,area=4";
        byte[] image;
        byte[] state;
        long outputCount;
        long sealedEpoch;
        List<GuestOutput> before = new ArrayList<>();
        try (KvmSource primary = KvmSource.open(spec)) {
            primary.start();
            awaitOutput(primary, before, out -> out.longValue() >= 2000);
            try (var stun = primary.stun()) {
                // As the agent does: the outputs are taken inside the stun, before the device state.
                before.addAll(primary.pollOutputs());
                image = memoryImage(primary);
                state = stun.deviceState();
            }
            KvmTestSupport.OutputCounters counters = KvmTestSupport.OutputCounters.of(state);
            sealedEpoch = counters.sealedEpoch();
            outputCount = counters.emitted();
            before.addAll(primary.pollOutputs());
            List<GuestOutput> sealed = before.stream().filter(o -> o.epoch() <= sealedEpoch).toList();
            assertEquals(outputCount, sealed.size());
            for (int i = 0; i < sealed.size(); i++) {
                assertEquals(i, sealed.get(i).index());
                assertEquals(i + 1, sealed.get(i).longValue());
            }
        }
        try (KvmSource standby = KvmSource.restore(SourceSpec.parse(spec), image, state)) {
            standby.start();
            GuestOutput first = awaitOutput(standby, out -> true);
            assertEquals(outputCount + 1, first.longValue(), "first output after restore");
            assertEquals(outputCount, first.index(), "output indexes continue across the restore");
            assertEquals(sealedEpoch + 1, first.epoch(), "epochs continue across the restore");
            GuestOutput later = awaitOutput(standby, out -> out.longValue() >= outputCount + 500);
            assertEquals(later.index() + 1, later.longValue());
        }
    }

    @Test
    void outputsNotTakenAtTheStunTravelInTheDeviceState() throws Exception {
        KvmTestSupport.assertOutputsNotTakenAtTheStunTravelInTheDeviceState("emu:guest=counter,mem=8m,area=4");
    }

    @Test
    void restoredKvStoreAnswersWithValuesFromBeforeTheCheckpoint() {
        String spec = "emu:guest=kv,mem=8m,slots=256";
        int keys = 20;
        byte[] image;
        byte[] state;
        try (KvmSource primary = KvmSource.open(spec)) {
            primary.start();
            for (int i = 0; i < keys; i++) {
                assertTrue(primary.offerInput(KvProtocol.put(i, key(i), value(i, "before"))));
            }
            List<GuestOutput> acks = new ArrayList<>();
            awaitOutput(primary, acks, out -> KvProtocol.Response.decode(out.payload()).id() == keys - 1);
            for (GuestOutput ack : acks) {
                assertTrue(KvProtocol.Response.decode(ack.payload()).ok(), () -> "put failed: " + ack);
            }
            // An idle store (blocked on its input port) writes nothing: once it got there, a harvest is empty.
            await().atMost(KvmTestSupport.PATIENCE).until(() -> {
                try (var stun = primary.stun()) {
                    return stun.harvestDirty().isEmpty();
                }
            });
            try (var stun = primary.stun()) {
                image = memoryImage(primary);
                state = stun.deviceState();
            }
            primary.offerInput(KvProtocol.put(100, key(0), value(0, "after")));
            awaitOutput(primary, out -> KvProtocol.Response.decode(out.payload()).id() == 100);
        }
        try (KvmSource standby = KvmSource.restore(SourceSpec.parse(spec), image, state)) {
            standby.start();
            for (int i = 0; i < keys; i++) {
                long id = 1000 + i;
                assertTrue(standby.offerInput(KvProtocol.get(id, key(i))));
                KvProtocol.Response response = KvProtocol.Response.decode(
                        awaitOutput(standby, out -> KvProtocol.Response.decode(out.payload()).id() == id).payload());
                assertTrue(response.ok(), () -> "get " + id + ": " + response);
                assertArrayEquals(value(i, "before"), response.value(), "value of key " + i);
            }
        }
    }

    @Test
    void corruptForeignOrMismatchedDeviceStateIsRefused() {
        String spec = "emu:guest=counter,mem=8m";
        byte[] image;
        byte[] state;
        try (KvmSource primary = KvmSource.open(spec)) {
            primary.start();
            awaitOutput(primary, out -> true);
            try (var stun = primary.stun()) {
                image = memoryImage(primary);
                state = stun.deviceState();
            }
        }
        assertEquals(0x5453554d45535043L, ByteBuffer.wrap(state).order(ByteOrder.LITTLE_ENDIAN).getLong(0), "CPSEMUST");
        byte[] corrupt = state.clone();
        corrupt[corrupt.length / 2] ^= 1;
        KvmException bad = assertThrows(KvmException.class,
                () -> KvmSource.restore(SourceSpec.parse(spec), image, corrupt).close());
        assertTrue(bad.getMessage().contains("CRC"), bad.getMessage());

        byte[] kvmState = state.clone();
        ByteBuffer.wrap(kvmState).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 0x54534d564b535043L);
        KvmException foreign = assertThrows(KvmException.class,
                () -> KvmSource.restore(SourceSpec.parse(spec), image, kvmState).close());
        // Read as a KVM guest's state (which the emulator accepts, KvmStateOnEmuTest), it fails its checks.
        assertTrue(foreign.getMessage().contains("device state"), foreign.getMessage());

        byte[] bigger = Arrays.copyOf(image, 16 << 20);
        KvmException mismatch = assertThrows(KvmException.class,
                () -> KvmSource.restore(SourceSpec.parse("emu:guest=counter,mem=16m"), bigger, state).close());
        assertTrue(mismatch.getMessage().contains("RAM"), mismatch.getMessage());
    }

    @Test
    void specsOfTheEmulatedKindAreStrict() {
        IllegalArgumentException dirty = assertThrows(IllegalArgumentException.class,
                () -> MemorySources.open("emu:guest=counter,dirty=ring"));
        assertTrue(dirty.getMessage().contains("dirty"), dirty.getMessage());
        IllegalArgumentException guest = assertThrows(IllegalArgumentException.class,
                () -> MemorySources.open("emu:guest=nope"));
        assertTrue(guest.getMessage().startsWith("emu source"), guest.getMessage());
    }

    private static byte[] key(int i) {
        return ("key-" + i).getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] value(int i, String tag) {
        return ("value-" + i + "-" + tag + "-" + "x".repeat(i * 10)).getBytes(StandardCharsets.UTF_8);
    }
}
