/*
 * vCPU state save and restore, as a versioned, self-checking blob (what Stun.deviceState() returns).
 *
 * Layout, little-endian:
 *   header  u64 magic "CPSKVMST", u32 version, u32 vcpus, u64 guest RAM bytes,
 *           u64 next output epoch, u64 outputs emitted so far, u32 section count, u32 zero
 *   section u32 type, u32 vcpu, u32 payload bytes, u32 zero, payload padded to 8 bytes
 *   trailer u64 FNV-1a of everything before it
 * Version 2 adds one VM-wide section (SEC_PENDING_OUTPUT, vCPU 0), present when the guest had emitted output
 * records the host had not taken at the stun: the agent leaves them in the guest when its held outputs are at
 * their bound, and the header's output count already counts them, so a checkpoint without them restored a guest
 * that had emitted outputs no one would ever see (the agent of the promoted guest then found the gap and stopped).
 * Compatibility: version 1 (no such section) still restores, with nothing pending; this shim writes version 2.
 * Sections are written in the order they must be applied on restore. A reader rejects unknown
 * versions and section types rather than guessing: a standby restored from a misread blob would run
 * a subtly different machine.
 *
 * What is captured per vCPU: CPUID, special registers, general registers, XCRs, XSAVE (or legacy
 * FPU), every MSR KVM lists that this host can read and write back, debug registers, pending
 * events, MP state. The VM has no in-kernel irqchip, PIT or clock devices, so there is nothing
 * VM-wide beyond the channel counters in the header.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

#define STATE_MAGIC 0x54534d564b535043ull /* "CPSKVMST" */
#define STATE_VERSION 2u
#define STATE_VERSION_WITHOUT_PENDING 1u
#define HEADER_BYTES 48u
#define SECTION_HEADER 16u


static bool has_cap(struct cps_vm *vm, long cap)
{
    return ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

static uint64_t fnv1a(const uint8_t *p, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

/* Keeps the MSRs KVM lists that can be read and written back on this host: those are what we save. */
static int probe_msrs(struct cps_vm *vm, char *err, size_t errlen)
{
    struct kvm_msr_list probe = { .nmsrs = 0 };
    if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) == 0 || errno != E2BIG) {
        return cps_fail_errno(err, errlen, "KVM_GET_MSR_INDEX_LIST (size query) did not report a size");
    }
    struct kvm_msr_list *all = calloc(1, sizeof(*all) + probe.nmsrs * sizeof(uint32_t));
    vm->msrs = calloc(1, sizeof(*vm->msrs) + probe.nmsrs * sizeof(uint32_t));
    if (all == NULL || vm->msrs == NULL) {
        free(all);
        return cps_fail(err, errlen, "out of memory for the MSR list");
    }
    all->nmsrs = probe.nmsrs;
    if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, all) != 0) {
        free(all);
        return cps_fail_errno(err, errlen, "KVM_GET_MSR_INDEX_LIST failed");
    }
    int fd = vm->vcpus[0].fd;
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry entry;
    } one;
    for (uint32_t i = 0; i < all->nmsrs; i++) {
        memset(&one, 0, sizeof(one));
        one.hdr.nmsrs = 1;
        one.entry.index = all->indices[i];
        if (ioctl(fd, KVM_GET_MSRS, &one) == 1 && ioctl(fd, KVM_SET_MSRS, &one) == 1) {
            vm->msrs->indices[vm->msrs->nmsrs++] = all->indices[i];
        }
    }
    free(all);
    return 0;
}

int cps_state_probe(struct cps_vm *vm, char *err, size_t errlen)
{
    int xsave2 = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    if (xsave2 > 0) {
        vm->xsave_size = (uint32_t)xsave2 < sizeof(struct kvm_xsave) ? sizeof(struct kvm_xsave) : (uint32_t)xsave2;
    } else if (has_cap(vm, KVM_CAP_XSAVE)) {
        vm->xsave_size = sizeof(struct kvm_xsave);
    }
    return probe_msrs(vm, err, errlen);
}

static uint64_t pad8(uint64_t n)
{
    return (n + 7) & ~7ull;
}

static uint64_t cpuid_bytes(struct cps_vm *vm)
{
    return sizeof(struct kvm_cpuid2) + vm->cpuid->nent * sizeof(struct kvm_cpuid_entry2);
}

static uint64_t msrs_bytes(struct cps_vm *vm)
{
    return sizeof(struct kvm_msrs) + vm->msrs->nmsrs * sizeof(struct kvm_msr_entry);
}

uint64_t cps_vm_state_max(struct cps_vm *vm)
{
    if (vm->backend == CPS_BACKEND_EMU) {
        return cps_emu_state_max(vm);
    }
    uint64_t per_vcpu = 10 * SECTION_HEADER + pad8(cpuid_bytes(vm)) + pad8(sizeof(struct kvm_sregs))
                        + pad8(sizeof(struct kvm_regs)) + pad8(sizeof(struct kvm_xcrs)) + pad8(vm->xsave_size)
                        + pad8(sizeof(struct kvm_fpu)) + pad8(msrs_bytes(vm)) + pad8(sizeof(struct kvm_debugregs))
                        + pad8(sizeof(struct kvm_vcpu_events)) + pad8(sizeof(struct kvm_mp_state));
    pthread_mutex_lock(&vm->lock);
    uint64_t pending = vm->out_len;
    pthread_mutex_unlock(&vm->lock);
    return HEADER_BYTES + vm->nvcpus * per_vcpu + SECTION_HEADER + pad8(pending) + 8;
}

struct writer {
    uint8_t *buf;
    uint64_t cap;
    uint64_t len;
    uint32_t sections;
};

/* Reserves a section and returns where its payload goes (zeroed), or NULL if the buffer is too small. */
static void *section(struct writer *w, uint32_t type, uint32_t vcpu, uint32_t bytes)
{
    uint64_t need = SECTION_HEADER + pad8(bytes);
    if (w->len + need + 8 > w->cap) {
        return NULL;
    }
    uint8_t *p = w->buf + w->len;
    uint32_t hdr[4] = { type, vcpu, bytes, 0 };
    memcpy(p, hdr, sizeof(hdr));
    memset(p + SECTION_HEADER, 0, pad8(bytes));
    w->len += need;
    w->sections++;
    return p + SECTION_HEADER;
}

/*
 * Cuts the section last reserved down to `bytes`: a variable-size payload the kernel filled with less than was
 * reserved for it. Its header is rewritten as section() wrote it, with the new size; its padding was zeroed then.
 */
static void shrink_last_section(struct writer *w, void *payload, uint32_t bytes)
{
    uint8_t *p = (uint8_t *)payload - SECTION_HEADER;
    uint32_t hdr[4];
    memcpy(hdr, p, sizeof(hdr));
    hdr[2] = bytes;
    memcpy(p, hdr, sizeof(hdr));
    w->len = (uint64_t)(p - w->buf) + SECTION_HEADER + pad8(bytes);
}

#define SAVE(w, type, id, size, what)                                                              \
    void *payload_##type = section(w, type, id, (uint32_t)(size));                                 \
    if (payload_##type == NULL) {                                                                  \
        return cps_fail(err, errlen, "device-state buffer too small while saving %s", what);       \
    }

static int save_vcpu(struct cps_vm *vm, struct cps_vcpu *c, struct writer *w, char *err, size_t errlen)
{
    uint32_t id = c->id;
    SAVE(w, SEC_CPUID, id, cpuid_bytes(vm), "CPUID");
    struct kvm_cpuid2 *cpuid = payload_SEC_CPUID;
    cpuid->nent = vm->cpuid->nent;
    if (ioctl(c->fd, KVM_GET_CPUID2, cpuid) != 0) {
        return cps_fail_errno(err, errlen, "KVM_GET_CPUID2 on vCPU %u failed", id);
    }
    /*
     * The vCPU may hold fewer entries than the VM was given (a nested KVM on a 6.18 kernel kept fewer than
     * KVM_GET_SUPPORTED_CPUID listed), and the call then lowers nent. The section says what the vCPU holds, so
     * that a restore, which requires the size to match nent exactly, takes it.
     */
    if (cpuid->nent > vm->cpuid->nent) {
        return cps_fail(err, errlen, "KVM_GET_CPUID2 on vCPU %u returned %u entries, more than the %u asked for", id,
                        cpuid->nent, vm->cpuid->nent);
    }
    shrink_last_section(w, cpuid, (uint32_t)(sizeof(*cpuid) + cpuid->nent * sizeof(struct kvm_cpuid_entry2)));
    SAVE(w, SEC_SREGS, id, sizeof(struct kvm_sregs), "special registers");
    if (ioctl(c->fd, KVM_GET_SREGS, payload_SEC_SREGS) != 0) {
        return cps_fail_errno(err, errlen, "KVM_GET_SREGS on vCPU %u failed", id);
    }
    SAVE(w, SEC_REGS, id, sizeof(struct kvm_regs), "registers");
    if (ioctl(c->fd, KVM_GET_REGS, payload_SEC_REGS) != 0) {
        return cps_fail_errno(err, errlen, "KVM_GET_REGS on vCPU %u failed", id);
    }
    if (has_cap(vm, KVM_CAP_XCRS)) {
        SAVE(w, SEC_XCRS, id, sizeof(struct kvm_xcrs), "XCRs");
        if (ioctl(c->fd, KVM_GET_XCRS, payload_SEC_XCRS) != 0) {
            return cps_fail_errno(err, errlen, "KVM_GET_XCRS on vCPU %u failed", id);
        }
    }
    if (vm->xsave_size > 0) {
        SAVE(w, SEC_XSAVE, id, vm->xsave_size, "XSAVE area");
        unsigned long req = vm->xsave_size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
        if (ioctl(c->fd, req, payload_SEC_XSAVE) != 0) {
            return cps_fail_errno(err, errlen, "KVM_GET_XSAVE on vCPU %u failed", id);
        }
    } else {
        SAVE(w, SEC_FPU, id, sizeof(struct kvm_fpu), "FPU");
        if (ioctl(c->fd, KVM_GET_FPU, payload_SEC_FPU) != 0) {
            return cps_fail_errno(err, errlen, "KVM_GET_FPU on vCPU %u failed", id);
        }
    }
    SAVE(w, SEC_MSRS, id, msrs_bytes(vm), "MSRs");
    struct kvm_msrs *msrs = payload_SEC_MSRS;
    msrs->nmsrs = vm->msrs->nmsrs;
    for (uint32_t i = 0; i < msrs->nmsrs; i++) {
        msrs->entries[i].index = vm->msrs->indices[i];
    }
    int got = ioctl(c->fd, KVM_GET_MSRS, msrs);
    if (got != (int)msrs->nmsrs) {
        if (got < 0) {
            return cps_fail_errno(err, errlen, "KVM_GET_MSRS on vCPU %u failed", id);
        }
        return cps_fail(err, errlen, "KVM_GET_MSRS on vCPU %u stopped at MSR 0x%x (%d of %u read)", id,
                        msrs->entries[got].index, got, msrs->nmsrs);
    }
    if (has_cap(vm, KVM_CAP_DEBUGREGS)) {
        SAVE(w, SEC_DEBUGREGS, id, sizeof(struct kvm_debugregs), "debug registers");
        if (ioctl(c->fd, KVM_GET_DEBUGREGS, payload_SEC_DEBUGREGS) != 0) {
            return cps_fail_errno(err, errlen, "KVM_GET_DEBUGREGS on vCPU %u failed", id);
        }
    }
    SAVE(w, SEC_EVENTS, id, sizeof(struct kvm_vcpu_events), "vCPU events");
    if (ioctl(c->fd, KVM_GET_VCPU_EVENTS, payload_SEC_EVENTS) != 0) {
        return cps_fail_errno(err, errlen, "KVM_GET_VCPU_EVENTS on vCPU %u failed", id);
    }
    SAVE(w, SEC_MP_STATE, id, sizeof(struct kvm_mp_state), "MP state");
    if (ioctl(c->fd, KVM_GET_MP_STATE, payload_SEC_MP_STATE) != 0) {
        return cps_fail_errno(err, errlen, "KVM_GET_MP_STATE on vCPU %u failed", id);
    }
    return 0;
}

static bool all_parked(struct cps_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    bool stopped = vm->paused && vm->nparked == vm->nvcpus;
    pthread_mutex_unlock(&vm->lock);
    return stopped;
}

int cps_vm_save_state(struct cps_vm *vm, void *buf, uint64_t cap, uint64_t *len, char *err, size_t errlen)
{
    if (!all_parked(vm)) {
        return cps_fail(err, errlen, "device state can only be saved while the guest is stunned");
    }
    if (vm->backend == CPS_BACKEND_EMU) {
        return cps_emu_save_state(vm, buf, cap, len, err, errlen);
    }
    if (cap < HEADER_BYTES + 8) {
        return cps_fail(err, errlen, "device-state buffer of %llu bytes is too small", (unsigned long long)cap);
    }
    struct writer w = { .buf = buf, .cap = cap, .len = HEADER_BYTES };
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        if (save_vcpu(vm, &vm->vcpus[i], &w, err, errlen) != 0) {
            return -1;
        }
    }
    pthread_mutex_lock(&vm->lock);
    if (vm->out_len > 0) {
        /* The vCPUs are parked, so nothing is emitted meanwhile; only the host's drain could take from it. */
        void *pending = vm->out_len > UINT32_MAX ? NULL : section(&w, SEC_PENDING_OUTPUT, 0, (uint32_t)vm->out_len);
        if (pending == NULL) {
            uint64_t bytes = vm->out_len;
            pthread_mutex_unlock(&vm->lock);
            return cps_fail(err, errlen, "device-state buffer of %llu bytes is too small for %llu bytes of pending "
                            "output", (unsigned long long)cap, (unsigned long long)bytes);
        }
        memcpy(pending, vm->out_buf, vm->out_len);
    }
    uint64_t header[6] = { STATE_MAGIC, STATE_VERSION | ((uint64_t)vm->nvcpus << 32), vm->mem_bytes, vm->epoch,
                           vm->output_count, w.sections };
    pthread_mutex_unlock(&vm->lock);
    memcpy(w.buf, header, sizeof(header));
    uint64_t sum = fnv1a(w.buf, w.len);
    memcpy(w.buf + w.len, &sum, 8);
    *len = w.len + 8;
    return 0;
}

/* Checks that a section's payload has the size its type needs (variable-size ones validated by the caller). */
static int expect_size(uint32_t type, uint32_t got, uint64_t want, char *err, size_t errlen)
{
    if (got != want) {
        return cps_fail(err, errlen, "device state: section %u has %u bytes, expected %llu", type, got,
                        (unsigned long long)want);
    }
    return 0;
}

static int apply_section(struct cps_vm *vm, uint32_t type, struct cps_vcpu *c, void *p, uint32_t n, char *err,
                         size_t errlen)
{
    if (vm->backend == CPS_BACKEND_EMU) {
        return cps_emu_apply_kvm_section(vm, type, p, n, err, errlen);
    }
    uint32_t id = c->id;
    switch (type) {
    case SEC_CPUID: {
        struct kvm_cpuid2 *cpuid = p;
        if (n < sizeof(*cpuid) || n != sizeof(*cpuid) + (uint64_t)cpuid->nent * sizeof(struct kvm_cpuid_entry2)) {
            return cps_fail(err, errlen, "device state: malformed CPUID section for vCPU %u", id);
        }
        if (ioctl(c->fd, KVM_SET_CPUID2, cpuid) != 0) {
            return cps_fail_errno(err, errlen, "restoring CPUID of vCPU %u failed", id);
        }
        return 0;
    }
    case SEC_SREGS:
        if (expect_size(type, n, sizeof(struct kvm_sregs), err, errlen) != 0) {
            return -1;
        }
        return ioctl(c->fd, KVM_SET_SREGS, p) == 0
                   ? 0 : cps_fail_errno(err, errlen, "restoring special registers of vCPU %u failed", id);
    case SEC_REGS:
        if (expect_size(type, n, sizeof(struct kvm_regs), err, errlen) != 0) {
            return -1;
        }
        return ioctl(c->fd, KVM_SET_REGS, p) == 0
                   ? 0 : cps_fail_errno(err, errlen, "restoring registers of vCPU %u failed", id);
    case SEC_XCRS:
        if (expect_size(type, n, sizeof(struct kvm_xcrs), err, errlen) != 0) {
            return -1;
        }
        return ioctl(c->fd, KVM_SET_XCRS, p) == 0
                   ? 0 : cps_fail_errno(err, errlen, "restoring XCRs of vCPU %u failed", id);
    case SEC_XSAVE:
        /* KVM_SET_XSAVE reads as many bytes as KVM_CAP_XSAVE2 reports on this host. */
        if (n < sizeof(struct kvm_xsave) || n > vm->xsave_size) {
            return cps_fail(err, errlen, "device state: XSAVE area of %u bytes does not fit this host (%u bytes)",
                            n, vm->xsave_size);
        }
        {
            uint8_t *area = calloc(1, vm->xsave_size);
            if (area == NULL) {
                return cps_fail(err, errlen, "out of memory restoring XSAVE");
            }
            memcpy(area, p, n);
            int rc = ioctl(c->fd, KVM_SET_XSAVE, area);
            free(area);
            return rc == 0 ? 0 : cps_fail_errno(err, errlen, "restoring the XSAVE area of vCPU %u failed", id);
        }
    case SEC_FPU:
        if (expect_size(type, n, sizeof(struct kvm_fpu), err, errlen) != 0) {
            return -1;
        }
        return ioctl(c->fd, KVM_SET_FPU, p) == 0
                   ? 0 : cps_fail_errno(err, errlen, "restoring the FPU of vCPU %u failed", id);
    case SEC_MSRS: {
        struct kvm_msrs *msrs = p;
        if (n < sizeof(*msrs) || n != sizeof(*msrs) + (uint64_t)msrs->nmsrs * sizeof(struct kvm_msr_entry)) {
            return cps_fail(err, errlen, "device state: malformed MSR section for vCPU %u", id);
        }
        int set = ioctl(c->fd, KVM_SET_MSRS, msrs);
        if (set < 0) {
            return cps_fail_errno(err, errlen, "restoring MSRs of vCPU %u failed", id);
        }
        if ((uint32_t)set != msrs->nmsrs) {
            return cps_fail(err, errlen, "this host refused MSR 0x%x of vCPU %u (%d of %u restored)",
                            msrs->entries[set].index, id, set, msrs->nmsrs);
        }
        return 0;
    }
    case SEC_DEBUGREGS:
        if (expect_size(type, n, sizeof(struct kvm_debugregs), err, errlen) != 0) {
            return -1;
        }
        return ioctl(c->fd, KVM_SET_DEBUGREGS, p) == 0
                   ? 0 : cps_fail_errno(err, errlen, "restoring debug registers of vCPU %u failed", id);
    case SEC_EVENTS:
        if (expect_size(type, n, sizeof(struct kvm_vcpu_events), err, errlen) != 0) {
            return -1;
        }
        return ioctl(c->fd, KVM_SET_VCPU_EVENTS, p) == 0
                   ? 0 : cps_fail_errno(err, errlen, "restoring pending events of vCPU %u failed", id);
    case SEC_MP_STATE:
        if (expect_size(type, n, sizeof(struct kvm_mp_state), err, errlen) != 0) {
            return -1;
        }
        return ioctl(c->fd, KVM_SET_MP_STATE, p) == 0
                   ? 0 : cps_fail_errno(err, errlen, "restoring the MP state of vCPU %u failed", id);
    default:
        return cps_fail(err, errlen, "device state: unknown section type %u (written by a newer cpstream?)", type);
    }
}

int cps_vm_load_state(struct cps_vm *vm, const void *buf, uint64_t len, char *err, size_t errlen)
{
    if (!all_parked(vm)) {
        return cps_fail(err, errlen, "device state can only be loaded into a stopped guest");
    }
    const uint8_t *b = buf;
    uint64_t magic = 0;
    memcpy(&magic, b, len >= 8 ? 8 : 0);
    /* An emulated guest reads its own state, and a KVM guest's too (emu.c translates its sections). */
    if (vm->backend == CPS_BACKEND_EMU && magic != STATE_MAGIC) {
        return cps_emu_load_state(vm, buf, len, err, errlen);
    }
    if (magic == CPS_EMU_STATE_MAGIC) {
        return cps_fail(err, errlen, "this device state is an emulated guest's (CPSEMUST); restore it with an emu source");
    }
    if (len < HEADER_BYTES + 8 || len % 8 != 0) {
        return cps_fail(err, errlen, "device state of %llu bytes is truncated or misaligned", (unsigned long long)len);
    }
    uint64_t header[6], sum;
    memcpy(header, b, sizeof(header));
    memcpy(&sum, b + len - 8, 8);
    if (header[0] != STATE_MAGIC) {
        return cps_fail(err, errlen, "not a cpstream KVM device state (bad magic)");
    }
    if (sum != fnv1a(b, len - 8)) {
        return cps_fail(err, errlen, "device state checksum mismatch: the blob is corrupt");
    }
    uint32_t version = (uint32_t)header[1];
    uint32_t nvcpus = (uint32_t)(header[1] >> 32);
    if (version != STATE_VERSION && version != STATE_VERSION_WITHOUT_PENDING) {
        return cps_fail(err, errlen, "device state version %u, this shim reads versions %u and %u", version,
                        STATE_VERSION_WITHOUT_PENDING, STATE_VERSION);
    }
    if (nvcpus != vm->nvcpus || header[2] != vm->mem_bytes) {
        return cps_fail(err, errlen, "device state is for %u vCPUs and %llu bytes of RAM; this VM has %u and %llu",
                        nvcpus, (unsigned long long)header[2], vm->nvcpus, (unsigned long long)vm->mem_bytes);
    }
    uint64_t off = HEADER_BYTES;
    uint32_t seen[CPS_MAX_VCPUS] = { 0 };
    const uint8_t *pending = NULL;
    uint32_t pending_len = 0;
    for (uint64_t s = 0; s < header[5]; s++) {
        uint32_t hdr[4];
        if (off + SECTION_HEADER > len - 8) {
            return cps_fail(err, errlen, "device state: section %llu runs past the end", (unsigned long long)s);
        }
        memcpy(hdr, b + off, sizeof(hdr));
        off += SECTION_HEADER;
        if (hdr[1] >= vm->nvcpus || hdr[2] > len - 8 - off || pad8(hdr[2]) > len - 8 - off) {
            return cps_fail(err, errlen, "device state: section %llu (type %u, vCPU %u, %u bytes) is out of range",
                            (unsigned long long)s, hdr[0], hdr[1], hdr[2]);
        }
        if (hdr[0] == SEC_PENDING_OUTPUT) {
            if (version == STATE_VERSION_WITHOUT_PENDING || hdr[1] != 0 || pending != NULL) {
                return cps_fail(err, errlen, "device state: unexpected pending-output section %llu",
                                (unsigned long long)s);
            }
            if (cps_io_check_pending(b + off, hdr[2], err, errlen) != 0) {
                return -1;
            }
            pending = b + off;
            pending_len = hdr[2];
            off += pad8(hdr[2]);
            continue;
        }
        /* Copy out: the ioctls want aligned, writable structures. */
        void *payload = malloc(hdr[2] ? hdr[2] : 1);
        if (payload == NULL) {
            return cps_fail(err, errlen, "out of memory restoring device state");
        }
        memcpy(payload, b + off, hdr[2]);
        int rc = apply_section(vm, hdr[0], &vm->vcpus[hdr[1]], payload, hdr[2], err, errlen);
        free(payload);
        if (rc != 0) {
            return -1;
        }
        if (hdr[0] < 32) {
            seen[hdr[1]] |= 1u << hdr[0];
        }
        off += pad8(hdr[2]);
    }
    uint32_t required = (1u << SEC_SREGS) | (1u << SEC_REGS) | (1u << SEC_MSRS) | (1u << SEC_EVENTS)
                        | (1u << SEC_MP_STATE);
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        if ((seen[i] & required) != required || !(seen[i] & ((1u << SEC_XSAVE) | (1u << SEC_FPU)))) {
            return cps_fail(err, errlen, "device state lacks required sections for vCPU %u", i);
        }
    }
    pthread_mutex_lock(&vm->lock);
    int rc = pending == NULL ? 0 : cps_io_restore_pending(vm, pending, pending_len);
    vm->epoch = header[3];
    vm->output_count = header[4];
    pthread_mutex_unlock(&vm->lock);
    return rc == 0 ? 0 : cps_fail(err, errlen, "out of memory restoring pending output");
}
