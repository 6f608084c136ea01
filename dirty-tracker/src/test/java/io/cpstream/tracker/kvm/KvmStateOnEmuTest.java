package io.cpstream.tracker.kvm;

import static io.cpstream.tracker.kvm.KvmTestSupport.assumeEmu;
import static io.cpstream.tracker.kvm.KvmTestSupport.assumeKvm;
import static io.cpstream.tracker.kvm.KvmTestSupport.awaitOutput;
import static io.cpstream.tracker.kvm.KvmTestSupport.memoryImage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cpstream.tracker.GuestOutput;
import io.cpstream.tracker.SourceSpec;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Checkpoints across the two backends. Both run the same guest binaries on the same memory layout, so a
 * memory image means the same on either; the device states differ (CPSKVMST: KVM's register structures;
 * CPSEMUST: the emulator's registers and pending outputs). The emulated backend reads a KVM guest's state
 * (translating its sections), so <b>a KVM checkpoint restores on emu</b>; KVM does not read an emulated guest's
 * state and says so (<b>the reverse is refused</b>).
 */
class KvmStateOnEmuTest {

    /** Where /dev/kvm exists: a real KVM guest's checkpoint, restored on the emulated CPU, carries on. */
    @Test
    void aKvmCounterCheckpointRestoresOnTheEmulator() {
        assumeKvm();
        assumeEmu();
        Checkpoint c = checkpoint("kvm:guest=counter,mem=8m,area=4");
        try (KvmSource standby = KvmSource.restore(SourceSpec.parse("emu:guest=counter,mem=8m"), c.image, c.state)) {
            assertEquals("emu", standby.kind());
            assertContinues(standby, c);
        }
    }

    @Test
    void aKvmKvStoreCheckpointRestoresOnTheEmulator() {
        assumeKvm();
        assumeEmu();
        kvStoreRestoresOn("kvm:guest=kv,mem=8m,slots=64", "emu:guest=kv,mem=8m");
    }

    /** Where /dev/kvm exists: KVM refuses an emulated guest's state with a reason, never runs it half-understood. */
    @Test
    void kvmRefusesAnEmulatedGuestsState() {
        assumeKvm();
        assumeEmu();
        Checkpoint c = checkpoint("emu:guest=counter,mem=8m,area=4");
        KvmException refused = assertThrows(KvmException.class,
                () -> KvmSource.restore(SourceSpec.parse("kvm:guest=counter,mem=8m"), c.image, c.state).close());
        assertTrue(refused.getMessage().contains("emu source"), refused.getMessage());
    }

    /**
     * Everywhere the emulator runs: a KVM-format state (CPSKVMST, the sections state.c writes, with KVM's
     * structure layouts) built from an emulated guest's registers at a stun restores on the emulator and the
     * guest carries on, so the translation of each section is exercised without /dev/kvm.
     */
    @Test
    void aKvmFormatStateRestoresOnTheEmulator() {
        assumeEmu();
        Checkpoint c = checkpoint("emu:guest=counter,mem=8m,area=4");
        byte[] kvmState = asKvmState(c.state);
        try (KvmSource standby = KvmSource.restore(SourceSpec.parse("emu:guest=counter,mem=8m"), c.image, kvmState)) {
            assertContinues(standby, c);
        }
        byte[] corrupt = kvmState.clone();
        corrupt[100] ^= 1;
        KvmException bad = assertThrows(KvmException.class,
                () -> KvmSource.restore(SourceSpec.parse("emu:guest=counter,mem=8m"), c.image, corrupt).close());
        assertTrue(bad.getMessage().contains("checksum"), bad.getMessage());
    }

    /**
     * Version 2's pending-output section, on the emulator too: whole records restore first in line, ahead of the
     * guest's next output; a record whose length runs past the section, or the section in a version 1 state, is
     * refused with the reason.
     */
    @Test
    void aKvmFormatStateCarriesItsPendingOutputAndRefusesItMalformed() {
        assumeEmu();
        Checkpoint c = checkpoint("emu:guest=counter,mem=8m,area=4");
        byte[] record = pendingRecord(c.sealedEpoch, c.emitted - 1, 7);
        byte[] withPending = asKvmState(c.state, 2, record);
        try (KvmSource standby = KvmSource.restore(SourceSpec.parse("emu:guest=counter,mem=8m"), c.image, withPending)) {
            List<GuestOutput> first = standby.pollOutputs(Long.MAX_VALUE);
            assertEquals(1, first.size(), "the pending record, before the guest runs");
            assertEquals(c.emitted - 1, first.getFirst().index());
            assertEquals(7, first.getFirst().payload().length);
        }
        byte[] tooLong = pendingRecord(c.sealedEpoch, c.emitted - 1, 7);
        ByteBuffer.wrap(tooLong).order(ByteOrder.LITTLE_ENDIAN).putInt(16, 8);
        KvmException bad = assertThrows(KvmException.class, () -> KvmSource.restore(
                SourceSpec.parse("emu:guest=counter,mem=8m"), c.image, asKvmState(c.state, 2, tooLong)).close());
        assertTrue(bad.getMessage().contains("bad record length 8"), bad.getMessage());
        KvmException inVersion1 = assertThrows(KvmException.class, () -> KvmSource.restore(
                SourceSpec.parse("emu:guest=counter,mem=8m"), c.image, asKvmState(c.state, 1, record)).close());
        assertTrue(inVersion1.getMessage().contains("unexpected pending-output section"), inVersion1.getMessage());
    }

    /** One output record as the drain encodes it: u64 epoch, u64 index, u32 length, payload. */
    private static byte[] pendingRecord(long epoch, long index, int length) {
        return le(20 + length).putLong(0, epoch).putLong(8, index).putInt(16, length).array();
    }

    private record Checkpoint(byte[] image, byte[] state, long emitted, long sealedEpoch) {
    }

    /** Runs a counter guest, stuns it, takes its outputs (as the agent does, inside the stun), image and state. */
    private static Checkpoint checkpoint(String spec) {
        try (KvmSource primary = KvmSource.open(spec)) {
            primary.start();
            List<GuestOutput> seen = new ArrayList<>();
            awaitOutput(primary, seen, out -> out.longValue() >= 100);
            try (var stun = primary.stun()) {
                seen.addAll(primary.pollOutputs(Long.MAX_VALUE));
                byte[] image = memoryImage(primary);
                byte[] state = stun.deviceState();
                KvmTestSupport.OutputCounters counters = KvmTestSupport.OutputCounters.of(state);
                assertEquals(counters.emitted(), seen.getLast().longValue(), "every output was taken at the stun");
                return new Checkpoint(image, state, counters.emitted(), counters.sealedEpoch());
            }
        }
    }

    private static void assertContinues(KvmSource standby, Checkpoint c) {
        standby.start();
        List<GuestOutput> more = new ArrayList<>();
        GuestOutput first = awaitOutput(standby, more, out -> true);
        assertEquals(c.emitted + 1, first.longValue(), "first output after the restore");
        assertEquals(c.emitted, first.index(), "output indexes continue");
        assertEquals(c.sealedEpoch + 1, first.epoch(), "epochs continue");
        awaitOutput(standby, more, out -> out.longValue() >= c.emitted + 200);
        for (int i = 0; i < more.size(); i++) {
            assertEquals(c.emitted + 1 + i, more.get(i).longValue(), "no output skipped or repeated");
        }
    }

    private static void kvStoreRestoresOn(String primarySpec, String standbySpec) {
        int keys = 10;
        byte[] image;
        byte[] state;
        try (KvmSource primary = KvmSource.open(primarySpec)) {
            primary.start();
            for (int i = 0; i < keys; i++) {
                assertTrue(primary.offerInput(KvProtocol.put(i, key(i), value(i))));
            }
            awaitOutput(primary, out -> KvProtocol.Response.decode(out.payload()).id() == keys - 1);
            try (var stun = primary.stun()) {
                primary.pollOutputs(Long.MAX_VALUE);
                image = memoryImage(primary);
                state = stun.deviceState();
            }
        }
        try (KvmSource standby = KvmSource.restore(SourceSpec.parse(standbySpec), image, state)) {
            standby.start();
            for (int i = 0; i < keys; i++) {
                long id = 1000 + i;
                assertTrue(standby.offerInput(KvProtocol.get(id, key(i))));
                KvProtocol.Response response = KvProtocol.Response.decode(
                        awaitOutput(standby, out -> KvProtocol.Response.decode(out.payload()).id() == id).payload());
                assertTrue(response.ok(), () -> "get " + id + ": " + response);
                assertArrayEquals(value(i), response.value());
            }
        }
    }

    private static byte[] key(int i) {
        return ("key-" + i).getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] value(int i) {
        return ("value-" + i).getBytes(StandardCharsets.UTF_8);
    }

    // ---- a CPSKVMST blob from a CPSEMUST one (layouts: linux/kvm.h for x86-64; framing: shim/state.c) ----

    /** Positions in the CPSEMUST register table (emu.c's REGS; the same in v1 and v2). */
    private static final int EFER = 0, CR4 = 1, CR3 = 2, CR0 = 3, CR2 = 4, GDTR = 6, IDTR = 7, CS = 10, SS = 11,
            DS = 12, ES = 13, FS = 14, GS = 15, FS_BASE = 16, GS_BASE = 17, RAX = 23, RFLAGS = 39, FPCW = 40,
            FPSW = 41, MXCSR = 51, XMM0 = 52, RIP = 68;
    private static final int SEC_SREGS = 2, SEC_REGS = 3, SEC_FPU = 6, SEC_MSRS = 7, SEC_EVENTS = 9, SEC_MP_STATE = 10,
            SEC_PENDING_OUTPUT = 11;

    private static byte[] asKvmState(byte[] emu) {
        return asKvmState(emu, 1, null);
    }

    /**
     * As {@link #asKvmState(byte[])}, as state.c version {@code version} writes it, with {@code pending} (null: none)
     * as its pending-output section.
     */
    private static byte[] asKvmState(byte[] emu, int version, byte[] pending) {
        ByteBuffer in = ByteBuffer.wrap(emu).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0x5453554d45535043L, in.getLong(0), "an emulated guest's state");
        assertEquals(0, in.getInt(44), "no pending output in the emulated guest's state: the test gives its own");

        ByteBuffer sregs = le(312);
        int[] order = {CS, DS, ES, FS, GS, SS}; // kvm_sregs: cs, ds, es, fs, gs, ss, tr, ldt
        for (int i = 0; i < order.length; i++) {
            int at = i * 24;
            long base = order[i] == FS ? reg(in, FS_BASE) : order[i] == GS ? reg(in, GS_BASE) : 0;
            sregs.putLong(at, base).putInt(at + 8, 0xffffffff).putShort(at + 12, (short) reg(in, order[i]));
        }
        sregs.putLong(192, regHigh(in, GDTR)).putShort(200, (short) (reg(in, GDTR) >>> 16));
        sregs.putLong(208, regHigh(in, IDTR)).putShort(216, (short) (reg(in, IDTR) >>> 16));
        sregs.putLong(224, reg(in, CR0)).putLong(232, reg(in, CR2)).putLong(240, reg(in, CR3))
                .putLong(248, reg(in, CR4)).putLong(264, reg(in, EFER));

        ByteBuffer regs = le(144); // rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags
        int[] gprs = {RAX, RAX + 1, RAX + 2, RAX + 3, RAX + 4, RAX + 5, RAX + 7, RAX + 6};
        for (int i = 0; i < gprs.length; i++) {
            regs.putLong(i * 8, reg(in, gprs[i]));
        }
        for (int i = 0; i < 8; i++) {
            regs.putLong(64 + i * 8, reg(in, RAX + 8 + i));
        }
        regs.putLong(128, reg(in, RIP)).putLong(136, reg(in, RFLAGS));

        ByteBuffer fpu = le(416); // fpr[8][16], fcw, fsw, ftwx, pad, opcode, last_ip, last_dp, xmm[16][16], mxcsr
        fpu.putShort(128, (short) reg(in, FPCW)).putShort(130, (short) reg(in, FPSW));
        for (int i = 0; i < 16; i++) {
            fpu.putLong(152 + i * 16, reg(in, XMM0 + i)).putLong(160 + i * 16, regHigh(in, XMM0 + i));
        }
        fpu.putInt(408, (int) reg(in, MXCSR));

        ByteBuffer msrs = le(8 + 16).putInt(0, 1).putInt(8, 0xc0000102).putLong(16, reg(in, 18));
        ByteBuffer events = le(64);
        ByteBuffer mp = le(4); // KVM_MP_STATE_RUNNABLE

        ByteArrayOutputStream body = new ByteArrayOutputStream();
        int sections = 0;
        List<Object[]> all = new ArrayList<>(List.of(new Object[][] {{SEC_SREGS, sregs}, {SEC_REGS, regs},
                {SEC_FPU, fpu}, {SEC_MSRS, msrs}, {SEC_EVENTS, events}, {SEC_MP_STATE, mp}}));
        if (pending != null) {
            all.add(new Object[] {SEC_PENDING_OUTPUT, ByteBuffer.wrap(pending)});
        }
        for (Object[] s : all) {
            byte[] payload = ((ByteBuffer) s[1]).array();
            body.writeBytes(le(16).putInt(0, (Integer) s[0]).putInt(8, payload.length).array());
            body.writeBytes(payload);
            body.writeBytes(new byte[(8 - payload.length % 8) % 8]);
            sections++;
        }
        ByteBuffer header = le(48).putLong(0, 0x54534d564b535043L).putInt(8, version).putInt(12, 1)
                .putLong(16, in.getLong(16)).putLong(24, in.getLong(24)).putLong(32, in.getLong(32))
                .putInt(40, sections);
        ByteArrayOutputStream blob = new ByteArrayOutputStream();
        blob.writeBytes(header.array());
        blob.writeBytes(body.toByteArray());
        long h = 0xcbf29ce484222325L;
        for (byte b : blob.toByteArray()) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        blob.writeBytes(le(8).putLong(0, h).array());
        return blob.toByteArray();
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The low 8 value bytes of register entry {@code index} (header 48 bytes, entries of 24). */
    /** Registers start after the header: 48 bytes in CPSEMUST v1, 56 in v2 (which adds the port-access ordinal). */
    private static int registers(ByteBuffer state) {
        return state.getInt(8) == 1 ? 48 : 56;
    }

    private static long reg(ByteBuffer state, int index) {
        return state.getLong(registers(state) + index * 24 + 8);
    }

    private static long regHigh(ByteBuffer state, int index) {
        return state.getLong(registers(state) + index * 24 + 16);
    }
}
