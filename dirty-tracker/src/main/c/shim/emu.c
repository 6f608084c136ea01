/*
 * The emulated vCPU (backend "emu"): the same guests, ports and channels as on KVM, with the CPU
 * emulated by Unicorn (QEMU's TCG as a library; Debian libunicorn2, 2.0.x). libunicorn.so.2 is opened
 * with dlopen on first use, so the KVM backend neither links nor needs it.
 *
 * Everything but the CPU is the shim's own: guest RAM is the memfd mapping of vm.c, handed to Unicorn
 * with uc_mem_map_ptr, so the emulator's stores are ordinary host stores; dirty pages come from the
 * host page tables (pagemap.c: userfaultfd async write-protect + PAGEMAP_SCAN); the vCPU thread,
 * stun and resume are vcpu.c's; IN and OUT go through io.c exactly as a KVM I/O exit does (a
 * kvm_run-shaped block per vCPU carries the access).
 *
 * Stopping: uc_emu_stop from another thread is unreliable in Unicorn 2.0.1, so the stun only sets
 * kvm_run->immediate_exit (as for KVM); a block hook on the vCPU thread sees it at the next
 * translation block and stops the emulator from inside. uc_emu_start returns between two
 * instructions, RIP is read back, and the next resume starts there.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#if __has_include(<unicorn/unicorn.h>)
#include <unicorn/unicorn.h>
#define CPS_HAVE_UNICORN 1
#else
#define CPS_HAVE_UNICORN 0
#endif

#define CPS_UNICORN_SONAME "libunicorn.so.2"
/* An address no guest executes: uc_emu_start runs until a stop, never until it. */
#define CPS_EMU_NO_END 0xfffffffffffff000ull
#define CPS_EMU_RUN_BYTES 8192u
#define CPS_EMU_DATA_OFFSET 4096u

#define STATE_MAGIC CPS_EMU_STATE_MAGIC
#define STATE_VERSION 2u

#if CPS_HAVE_UNICORN

struct cps_uc_api {
    __typeof__(uc_version) *version;
    __typeof__(uc_open) *open;
    __typeof__(uc_close) *close;
    __typeof__(uc_strerror) *strerror;
    __typeof__(uc_mem_map_ptr) *mem_map_ptr;
    __typeof__(uc_reg_read) *reg_read;
    __typeof__(uc_reg_write) *reg_write;
    __typeof__(uc_hook_add) *hook_add;
    __typeof__(uc_emu_start) *emu_start;
    __typeof__(uc_emu_stop) *emu_stop;
};

struct cps_emu {
    uc_engine *uc;
    uint64_t rip;       /* where the next uc_emu_start begins; valid while parked */
    bool dead;          /* an I/O hook stopped the guest for good (a fault is recorded) */
    /* Execution trace (cps_vm_xtrace_open): written by the vCPU thread's hooks, closed by the caller's. */
    pthread_mutex_t trace_lock;
    FILE *trace;
    uint32_t trace_kinds;
    uint64_t trace_records;
    bool trace_hooked;  /* the instruction and memory hooks are added once; they check trace under the lock */
};

static struct cps_uc_api uc_api;
static pthread_once_t uc_once = PTHREAD_ONCE_INIT;
static char uc_load_err[CPS_ERR_MAX];

static void load_unicorn(void)
{
    void *h = dlopen(CPS_UNICORN_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(uc_load_err, sizeof(uc_load_err), "cannot load %s (install the Debian package libunicorn2): %s",
                 CPS_UNICORN_SONAME, dlerror());
        return;
    }
#define BIND(field, name)                                                                                   \
    do {                                                                                                    \
        *(void **)&uc_api.field = dlsym(h, name);                                                           \
        if (uc_api.field == NULL) {                                                                         \
            snprintf(uc_load_err, sizeof(uc_load_err), "%s lacks symbol %s", CPS_UNICORN_SONAME, name);      \
            return;                                                                                         \
        }                                                                                                   \
    } while (0)
    BIND(version, "uc_version");
    BIND(open, "uc_open");
    BIND(close, "uc_close");
    BIND(strerror, "uc_strerror");
    BIND(mem_map_ptr, "uc_mem_map_ptr");
    BIND(reg_read, "uc_reg_read");
    BIND(reg_write, "uc_reg_write");
    BIND(hook_add, "uc_hook_add");
    BIND(emu_start, "uc_emu_start");
    BIND(emu_stop, "uc_emu_stop");
#undef BIND
    unsigned int major = 0, minor = 0;
    uc_api.version(&major, &minor);
    if (major != UC_API_MAJOR) {
        snprintf(uc_load_err, sizeof(uc_load_err), "%s has API version %u.%u; this shim was built for %u.x",
                 CPS_UNICORN_SONAME, major, minor, UC_API_MAJOR);
    }
}

static int unicorn(char *err, size_t errlen)
{
    pthread_once(&uc_once, load_unicorn);
    return uc_load_err[0] != '\0' ? cps_fail(err, errlen, "%s", uc_load_err) : 0;
}

int cps_emu_available(char *err, size_t errlen)
{
    return unicorn(err, errlen);
}

/*
 * Execution trace, format version 1 (dirty-tracker/EXECUTION-TRACE-FORMAT.md), little-endian:
 *   header  u64 magic "CPSXTRAC", u32 version, u32 kinds traced, u64 port accesses made when it began, u64 0
 *   records of 32 bytes: u8 kind, u8 size, u16 port, u32 0, u64 position (port accesses made before the event),
 *           u64 address, u64 value
 *   end     a record of kind 0xff: position = port accesses made when it ended, address = records before it.
 */
#define XTRACE_MAGIC 0x4341525458535043ull /* "CPSXTRAC" read little-endian */
#define XTRACE_VERSION 1u
#define XTRACE_END 0xffu

static void xtrace_put(FILE *f, uint8_t kind, uint8_t size, uint16_t port, uint64_t position, uint64_t address,
                       uint64_t value)
{
    uint8_t rec[32] = { 0 };
    rec[0] = kind;
    rec[1] = size;
    memcpy(rec + 2, &port, 2);
    memcpy(rec + 8, &position, 8);
    memcpy(rec + 16, &address, 8);
    memcpy(rec + 24, &value, 8);
    fwrite(rec, sizeof(rec), 1, f);
}

/* One event, if its kind is traced (the vCPU thread; the lock only orders it against the trace's close). */
static void xtrace(struct cps_vm *vm, uint32_t kind, uint8_t size, uint16_t port, uint64_t address, uint64_t value)
{
    struct cps_emu *e = vm->emu;
    pthread_mutex_lock(&e->trace_lock);
    if (e->trace != NULL && (e->trace_kinds & (1u << kind)) != 0) {
        xtrace_put(e->trace, (uint8_t)kind, size, port, vm->port_ordinal, address, value);
        e->trace_records++;
    }
    pthread_mutex_unlock(&e->trace_lock);
}

static void on_code(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    (void)uc;
    struct cps_vcpu *c = user;
    xtrace(c->vm, CPS_XTRACE_INSN, (uint8_t)size, 0, address, 0);
}

static void on_write(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value, void *user)
{
    (void)uc;
    (void)type;
    struct cps_vcpu *c = user;
    xtrace(c->vm, CPS_XTRACE_MEMW, (uint8_t)size, 0, address, (uint64_t)value);
}

/* One port access, handed to io.c as KVM would hand it: false when the vCPU must stop. */
static bool port_access(struct cps_vcpu *c, uint32_t port, int size, bool out, uint32_t *value)
{
    struct kvm_run *run = c->run;
    run->exit_reason = KVM_EXIT_IO;
    run->io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
    run->io.size = (uint8_t)size;
    run->io.port = (uint16_t)port;
    run->io.count = 1;
    run->io.data_offset = CPS_EMU_DATA_OFFSET;
    uint8_t *data = (uint8_t *)run + CPS_EMU_DATA_OFFSET;
    memset(data, 0, 4);
    memcpy(data, value, (size_t)size <= 4 ? (size_t)size : 4);
    uint64_t position = c->vm->port_ordinal;
    bool ok = cps_io_exit(c);
    memcpy(value, data, 4);
    if (ok && c->vm->emu->trace != NULL) {
        /* After the access: an IN's value is what the guest got. Position is where it happened, not after. */
        struct cps_emu *e = c->vm->emu;
        pthread_mutex_lock(&e->trace_lock);
        uint32_t kind = out ? CPS_XTRACE_OUT : CPS_XTRACE_IN;
        if (e->trace != NULL && (e->trace_kinds & (1u << kind)) != 0) {
            xtrace_put(e->trace, (uint8_t)kind, (uint8_t)size, (uint16_t)port, position, 0, *value);
            e->trace_records++;
        }
        pthread_mutex_unlock(&e->trace_lock);
    }
    if (!ok) {
        c->vm->emu->dead = true;
        uc_api.emu_stop(c->vm->emu->uc);
    }
    return ok;
}

static uint32_t on_in(uc_engine *uc, uint32_t port, int size, void *user)
{
    (void)uc;
    uint32_t value = 0;
    port_access(user, port, size, false, &value);
    if (size == 1) {
        return value & 0xff;
    }
    return size == 2 ? value & 0xffff : value;
}

static void on_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
    (void)uc;
    port_access(user, port, size, true, &value);
}

/* At every translation block: a pending stun stops the emulator here, between two instructions. */
static void on_block(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    (void)address;
    (void)size;
    struct cps_vcpu *c = user;
    if (__atomic_load_n(&c->run->immediate_exit, __ATOMIC_ACQUIRE)) {
        uc_api.emu_stop(uc);
    }
}

static void on_interrupt(uc_engine *uc, uint32_t intno, void *user)
{
    struct cps_vcpu *c = user;
    uint64_t rip = 0;
    uc_api.reg_read(uc, UC_X86_REG_RIP, &rip);
    cps_vcpu_fault(c, "guest raised exception or interrupt %u at rip 0x%llx (it has no IDT)", intno,
                   (unsigned long long)rip);
    c->vm->emu->dead = true;
    uc_api.emu_stop(uc);
}

static int uc_check(uc_err e, const char *what, char *err, size_t errlen)
{
    return e == UC_ERR_OK ? 0 : cps_fail(err, errlen, "unicorn: %s failed: %s", what, uc_api.strerror(e));
}

int cps_emu_init(struct cps_vm *vm, char *err, size_t errlen)
{
    if (unicorn(err, errlen) != 0) {
        return -1;
    }
    if (vm->nvcpus != 1) {
        return cps_fail(err, errlen, "the emulated backend runs one vCPU, not %u", vm->nvcpus);
    }
    struct cps_emu *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return cps_fail(err, errlen, "out of memory for the emulator");
    }
    vm->emu = e;
    pthread_mutex_init(&e->trace_lock, NULL);
    struct cps_vcpu *c = &vm->vcpus[0];
    c->vm = vm;
    c->id = 0;
    c->run = calloc(1, CPS_EMU_RUN_BYTES);
    if (c->run == NULL) {
        return cps_fail(err, errlen, "out of memory for the emulated vCPU");
    }
    _Static_assert(sizeof(struct kvm_run) <= CPS_EMU_DATA_OFFSET, "kvm_run fits before the I/O data");
    if (uc_check(uc_api.open(UC_ARCH_X86, UC_MODE_64, &e->uc), "uc_open (x86, 64-bit)", err, errlen) != 0) {
        return -1;
    }
    if (uc_check(uc_api.mem_map_ptr(e->uc, 0, vm->mem_bytes, UC_PROT_ALL, vm->mem), "mapping guest RAM", err,
                 errlen) != 0) {
        return -1;
    }
    uc_hook h;
    if (uc_check(uc_api.hook_add(e->uc, &h, UC_HOOK_INSN, (void *)on_in, c, 1, 0, UC_X86_INS_IN), "hooking IN", err,
                 errlen) != 0
        || uc_check(uc_api.hook_add(e->uc, &h, UC_HOOK_INSN, (void *)on_out, c, 1, 0, UC_X86_INS_OUT),
                    "hooking OUT", err, errlen) != 0
        || uc_check(uc_api.hook_add(e->uc, &h, UC_HOOK_BLOCK, (void *)on_block, c, 1, 0), "hooking blocks", err,
                    errlen) != 0
        || uc_check(uc_api.hook_add(e->uc, &h, UC_HOOK_INTR, (void *)on_interrupt, c, 1, 0), "hooking interrupts",
                    err, errlen) != 0) {
        return -1;
    }
    return 0;
}

void cps_emu_free(struct cps_vm *vm)
{
    struct cps_emu *e = vm->emu;
    if (e == NULL) {
        /* A KVM guest: vcpus[0].run is KVM's mapping of the vCPU, which cps_vm_destroy unmaps; never free() it. */
        return;
    }
    if (e->uc != NULL) {
        uc_api.close(e->uc);
    }
    if (e->trace != NULL) {
        uint64_t records = 0;
        cps_vm_xtrace_close(vm, &records, NULL, 0);
    }
    pthread_mutex_destroy(&e->trace_lock);
    free(e);
    vm->emu = NULL;
    if (vm->vcpus[0].run != NULL) {
        free(vm->vcpus[0].run);
        vm->vcpus[0].run = NULL;
    }
}

bool cps_emu_run(struct cps_vcpu *c)
{
    struct cps_emu *e = c->vm->emu;
    uc_err rc = uc_api.emu_start(e->uc, e->rip, CPS_EMU_NO_END, 0, 0);
    uint64_t rip = e->rip;
    uc_api.reg_read(e->uc, UC_X86_REG_RIP, &rip);
    e->rip = rip;
    if (e->dead) {
        return false;
    }
    if (rc != UC_ERR_OK) {
        cps_vcpu_fault(c, "emulation stopped at rip 0x%llx: %s", (unsigned long long)rip, uc_api.strerror(rc));
        return false;
    }
    if (__atomic_load_n(&c->run->immediate_exit, __ATOMIC_ACQUIRE)) {
        return true; /* a stun: the caller parks */
    }
    /* The emulator returned by itself: the guest halted. Nothing but a stun wakes it. */
    return cps_io_halt(c);
}

/* Long mode as boot.c gives it to KVM: flat segments (Unicorn's 64-bit mode), paging on the shim's tables. */
int cps_emu_set_entry(struct cps_vm *vm, char *err, size_t errlen)
{
    struct cps_emu *e = vm->emu;
    uint64_t cr3 = CPS_PML4_GPA;
    uint64_t cr4 = (1ull << 5) | (1ull << 9) | (1ull << 10);                           /* PAE, OSFXSR, OSXMMEXCPT */
    uint64_t cr0 = (1ull << 0) | (1ull << 1) | (1ull << 4) | (1ull << 5) | (1ull << 16) | (1ull << 31);
    uc_x86_mmr gdt = { .base = CPS_GDT_GPA, .limit = 5 * 8 - 1 };
    uc_x86_mmr idt = { .base = 0, .limit = 0 };
    uint64_t rflags = 0x2, rsp = CPS_STACK_TOP, rdi = 0, rsi = CPS_BOOTINFO_GPA;
    if (uc_check(uc_api.reg_write(e->uc, UC_X86_REG_GDTR, &gdt), "setting GDTR", err, errlen) != 0
        || uc_check(uc_api.reg_write(e->uc, UC_X86_REG_IDTR, &idt), "setting IDTR", err, errlen) != 0
        || uc_check(uc_api.reg_write(e->uc, UC_X86_REG_CR3, &cr3), "setting CR3", err, errlen) != 0
        || uc_check(uc_api.reg_write(e->uc, UC_X86_REG_CR4, &cr4), "setting CR4", err, errlen) != 0
        || uc_check(uc_api.reg_write(e->uc, UC_X86_REG_CR0, &cr0), "setting CR0", err, errlen) != 0
        || uc_check(uc_api.reg_write(e->uc, UC_X86_REG_RFLAGS, &rflags), "setting RFLAGS", err, errlen) != 0
        || uc_check(uc_api.reg_write(e->uc, UC_X86_REG_RSP, &rsp), "setting RSP", err, errlen) != 0
        || uc_check(uc_api.reg_write(e->uc, UC_X86_REG_RDI, &rdi), "setting RDI", err, errlen) != 0
        || uc_check(uc_api.reg_write(e->uc, UC_X86_REG_RSI, &rsi), "setting RSI", err, errlen) != 0) {
        return -1;
    }
    /* The selectors of boot.c's GDT (which is in guest RAM now), as KVM's vCPUs have them. */
    uint64_t code = 0x08, data = 0x10;
    const int data_segs[] = { UC_X86_REG_SS, UC_X86_REG_DS, UC_X86_REG_ES, UC_X86_REG_FS, UC_X86_REG_GS };
    if (uc_check(uc_api.reg_write(e->uc, UC_X86_REG_CS, &code), "loading CS", err, errlen) != 0) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(data_segs) / sizeof(data_segs[0]); i++) {
        if (uc_check(uc_api.reg_write(e->uc, data_segs[i], &data), "loading a data segment", err, errlen) != 0) {
            return -1;
        }
    }
    e->rip = CPS_IMAGE_GPA;
    return 0;
}

/*
 * Device state of an emulated guest, version 2, little-endian:
 *   header  u64 magic "CPSEMUST", u32 version, u32 vcpus (1), u64 guest RAM bytes, u64 next output epoch,
 *           u64 outputs emitted since boot, u32 register count, u32 pending output bytes,
 *           u64 port accesses since boot (version 2; what positions a record/replay log's events)
 *   registers, in restore order: u32 Unicorn register id, u32 MSR index (0 unless an MSR), 16 bytes value
 *           (a uc_x86_mmr for GDTR/IDTR/LDTR/TR, 10 bytes for x87 ST registers, the low bytes otherwise)
 *   pending output: the records emitted before the stun that the host had not taken yet, as
 *           cps_vm_drain_output encodes them (they are gone from the guest, so the checkpoint holds them)
 *   trailer u32 CRC-32 (IEEE) of everything before it.
 * Compatibility: version 1 (the same without the port-access count, a 48-byte header) still restores, with the
 * count at 0; a replay log recorded from such a guest would start at 0, so one can only follow a version 2
 * checkpoint. This shim writes version 2 only.
 */
struct reg_desc {
    int id;
    uint32_t msr;
};

static const struct reg_desc REGS[] = {
    /* control state first: writing CR0/CR4/EFER flushes what depends on them */
    { UC_X86_REG_MSR, 0xc0000080u }, /* EFER */
    { UC_X86_REG_CR4, 0 }, { UC_X86_REG_CR3, 0 }, { UC_X86_REG_CR0, 0 }, { UC_X86_REG_CR2, 0 },
    { UC_X86_REG_CR8, 0 },
    { UC_X86_REG_GDTR, 0 }, { UC_X86_REG_IDTR, 0 }, { UC_X86_REG_LDTR, 0 }, { UC_X86_REG_TR, 0 },
    { UC_X86_REG_CS, 0 }, { UC_X86_REG_SS, 0 }, { UC_X86_REG_DS, 0 }, { UC_X86_REG_ES, 0 },
    { UC_X86_REG_FS, 0 }, { UC_X86_REG_GS, 0 },
    { UC_X86_REG_FS_BASE, 0 }, { UC_X86_REG_GS_BASE, 0 },
    { UC_X86_REG_MSR, 0xc0000102u }, /* KERNEL_GS_BASE */
    { UC_X86_REG_MSR, 0xc0000081u }, /* STAR */
    { UC_X86_REG_MSR, 0xc0000082u }, /* LSTAR */
    { UC_X86_REG_MSR, 0xc0000083u }, /* CSTAR */
    { UC_X86_REG_MSR, 0xc0000084u }, /* SFMASK */
    { UC_X86_REG_RAX, 0 }, { UC_X86_REG_RBX, 0 }, { UC_X86_REG_RCX, 0 }, { UC_X86_REG_RDX, 0 },
    { UC_X86_REG_RSI, 0 }, { UC_X86_REG_RDI, 0 }, { UC_X86_REG_RBP, 0 }, { UC_X86_REG_RSP, 0 },
    { UC_X86_REG_R8, 0 }, { UC_X86_REG_R9, 0 }, { UC_X86_REG_R10, 0 }, { UC_X86_REG_R11, 0 },
    { UC_X86_REG_R12, 0 }, { UC_X86_REG_R13, 0 }, { UC_X86_REG_R14, 0 }, { UC_X86_REG_R15, 0 },
    { UC_X86_REG_RFLAGS, 0 },
    { UC_X86_REG_FPCW, 0 }, { UC_X86_REG_FPSW, 0 }, { UC_X86_REG_FPTAG, 0 },
    { UC_X86_REG_ST0, 0 }, { UC_X86_REG_ST1, 0 }, { UC_X86_REG_ST2, 0 }, { UC_X86_REG_ST3, 0 },
    { UC_X86_REG_ST4, 0 }, { UC_X86_REG_ST5, 0 }, { UC_X86_REG_ST6, 0 }, { UC_X86_REG_ST7, 0 },
    { UC_X86_REG_MXCSR, 0 },
    { UC_X86_REG_XMM0, 0 }, { UC_X86_REG_XMM1, 0 }, { UC_X86_REG_XMM2, 0 }, { UC_X86_REG_XMM3, 0 },
    { UC_X86_REG_XMM4, 0 }, { UC_X86_REG_XMM5, 0 }, { UC_X86_REG_XMM6, 0 }, { UC_X86_REG_XMM7, 0 },
    { UC_X86_REG_XMM8, 0 }, { UC_X86_REG_XMM9, 0 }, { UC_X86_REG_XMM10, 0 }, { UC_X86_REG_XMM11, 0 },
    { UC_X86_REG_XMM12, 0 }, { UC_X86_REG_XMM13, 0 }, { UC_X86_REG_XMM14, 0 }, { UC_X86_REG_XMM15, 0 },
    { UC_X86_REG_RIP, 0 },
};
#define NREGS (sizeof(REGS) / sizeof(REGS[0]))
#define HEADER_BYTES 56u
#define HEADER_BYTES_V1 48u
#define REG_BYTES 24u

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t v = i;
        for (int k = 0; k < 8; k++) {
            v = (v & 1) ? 0xedb88320u ^ (v >> 1) : v >> 1;
        }
        crc_table[i] = v;
    }
}

static uint32_t crc32_ieee(const uint8_t *p, uint64_t n)
{
    pthread_once(&crc_once, crc_init);
    uint32_t crc = 0xffffffffu;
    for (uint64_t i = 0; i < n; i++) {
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    }
    return crc ^ 0xffffffffu;
}

static int read_reg(struct cps_emu *e, const struct reg_desc *r, uint8_t value[16], char *err, size_t errlen)
{
    memset(value, 0, 16);
    if (r->id == UC_X86_REG_MSR) {
        uc_x86_msr msr = { .rid = r->msr };
        if (uc_check(uc_api.reg_read(e->uc, UC_X86_REG_MSR, &msr), "reading an MSR", err, errlen) != 0) {
            return -1;
        }
        memcpy(value, &msr.value, 8);
        return 0;
    }
    if (r->id == UC_X86_REG_GDTR || r->id == UC_X86_REG_IDTR || r->id == UC_X86_REG_LDTR || r->id == UC_X86_REG_TR) {
        uc_x86_mmr mmr;
        memset(&mmr, 0, sizeof(mmr));
        if (uc_check(uc_api.reg_read(e->uc, r->id, &mmr), "reading a descriptor table register", err, errlen) != 0) {
            return -1;
        }
        memcpy(value, &mmr.selector, 2);
        memcpy(value + 2, &mmr.limit, 4);
        memcpy(value + 8, &mmr.base, 8);
        /* flags do not fit the 16 bytes beside base/limit/selector; Unicorn derives them on write */
        return 0;
    }
    if (r->id == UC_X86_REG_RIP) {
        memcpy(value, &e->rip, 8);
        return 0;
    }
    uint8_t buf[64];
    memset(buf, 0, sizeof(buf));
    if (uc_check(uc_api.reg_read(e->uc, r->id, buf), "reading a register", err, errlen) != 0) {
        return -1;
    }
    memcpy(value, buf, 16);
    return 0;
}

static bool is_selector(int id)
{
    return id == UC_X86_REG_CS || id == UC_X86_REG_SS || id == UC_X86_REG_DS || id == UC_X86_REG_ES
           || id == UC_X86_REG_FS || id == UC_X86_REG_GS;
}

static int write_reg(struct cps_emu *e, const struct reg_desc *r, const uint8_t value[16], char *err, size_t errlen)
{
    if (r->id == UC_X86_REG_MSR) {
        uc_x86_msr msr = { .rid = r->msr };
        memcpy(&msr.value, value, 8);
        return uc_check(uc_api.reg_write(e->uc, UC_X86_REG_MSR, &msr), "writing an MSR", err, errlen);
    }
    if (r->id == UC_X86_REG_GDTR || r->id == UC_X86_REG_IDTR || r->id == UC_X86_REG_LDTR || r->id == UC_X86_REG_TR) {
        uc_x86_mmr mmr;
        memset(&mmr, 0, sizeof(mmr));
        uc_api.reg_read(e->uc, r->id, &mmr);
        memcpy(&mmr.selector, value, 2);
        memcpy(&mmr.limit, value + 2, 4);
        memcpy(&mmr.base, value + 8, 8);
        return uc_check(uc_api.reg_write(e->uc, r->id, &mmr), "writing a descriptor table register", err, errlen);
    }
    if (r->id == UC_X86_REG_RIP) {
        memcpy(&e->rip, value, 8);
        return 0;
    }
    if (is_selector(r->id)) {
        /* Reloading a selector makes the emulator fetch its descriptor; the guests never change them, so
         * the fresh engine already holds the saved value. Anything else is a state this backend cannot load. */
        uint8_t now[16];
        if (read_reg(e, r, now, err, errlen) != 0) {
            return -1;
        }
        if (memcmp(now, value, 2) == 0) {
            return 0;
        }
    }
    uint8_t buf[64];
    memset(buf, 0, sizeof(buf));
    memcpy(buf, value, 16);
    return uc_check(uc_api.reg_write(e->uc, r->id, buf), "writing a register", err, errlen);
}

uint64_t cps_emu_state_max(struct cps_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    uint64_t pending = vm->out_len;
    pthread_mutex_unlock(&vm->lock);
    return HEADER_BYTES + NREGS * REG_BYTES + pending + 4;
}

int cps_emu_save_state(struct cps_vm *vm, void *buf, uint64_t cap, uint64_t *len, char *err, size_t errlen)
{
    uint8_t *b = buf;
    if (!cps_rr_state_exact(vm)) {
        return cps_fail(err, errlen, "the replayed guest waits at the end of its log inside a port access: its "
                        "registers are not at an instruction boundary, so it has no device state there");
    }
    uint64_t at = HEADER_BYTES;
    if (cap < HEADER_BYTES + NREGS * REG_BYTES + 4) {
        return cps_fail(err, errlen, "device-state buffer of %llu bytes is too small", (unsigned long long)cap);
    }
    for (size_t i = 0; i < NREGS; i++) {
        uint32_t id = (uint32_t)REGS[i].id;
        memcpy(b + at, &id, 4);
        memcpy(b + at + 4, &REGS[i].msr, 4);
        if (read_reg(vm->emu, &REGS[i], b + at + 8, err, errlen) != 0) {
            return -1;
        }
        at += REG_BYTES;
    }
    pthread_mutex_lock(&vm->lock);
    uint32_t pending = (uint32_t)vm->out_len;
    if (at + pending + 4 > cap) {
        pthread_mutex_unlock(&vm->lock);
        return cps_fail(err, errlen, "device-state buffer of %llu bytes is too small for %u bytes of pending output",
                        (unsigned long long)cap, pending);
    }
    memcpy(b + at, vm->out_buf, pending);
    at += pending;
    uint64_t magic = STATE_MAGIC, mem = vm->mem_bytes, epoch = vm->epoch, outputs = vm->output_count;
    uint64_t ordinal = vm->port_ordinal;
    pthread_mutex_unlock(&vm->lock);
    uint32_t version = STATE_VERSION, vcpus = 1, nregs = NREGS;
    memcpy(b, &magic, 8);
    memcpy(b + 8, &version, 4);
    memcpy(b + 12, &vcpus, 4);
    memcpy(b + 16, &mem, 8);
    memcpy(b + 24, &epoch, 8);
    memcpy(b + 32, &outputs, 8);
    memcpy(b + 40, &nregs, 4);
    memcpy(b + 44, &pending, 4);
    memcpy(b + 48, &ordinal, 8);
    uint32_t crc = crc32_ieee(b, at);
    memcpy(b + at, &crc, 4);
    *len = at + 4;
    return 0;
}

int cps_emu_load_state(struct cps_vm *vm, const void *buf, uint64_t len, char *err, size_t errlen)
{
    const uint8_t *b = buf;
    if (len < HEADER_BYTES_V1 + 4) {
        return cps_fail(err, errlen, "device state of %llu bytes is too short for an emulated guest's",
                        (unsigned long long)len);
    }
    uint64_t magic, mem, epoch, outputs;
    uint32_t version, vcpus, nregs, pending, crc;
    memcpy(&magic, b, 8);
    if (magic == 0x54534d564b535043ull) {
        return cps_fail(err, errlen, "this device state is a KVM guest's (CPSKVMST); restore it with a kvm source");
    }
    if (magic != STATE_MAGIC) {
        return cps_fail(err, errlen, "not an emulated guest's device state (bad magic 0x%016llx)",
                        (unsigned long long)magic);
    }
    memcpy(&version, b + 8, 4);
    if (version != 1 && version != STATE_VERSION) {
        return cps_fail(err, errlen, "device state version %u, this shim reads versions 1 and %u", version,
                        STATE_VERSION);
    }
    uint64_t header = version == 1 ? HEADER_BYTES_V1 : HEADER_BYTES;
    if (len < header + 4) {
        return cps_fail(err, errlen, "device state of %llu bytes is too short for version %u", (unsigned long long)len,
                        version);
    }
    memcpy(&crc, b + len - 4, 4);
    if (crc32_ieee(b, len - 4) != crc) {
        return cps_fail(err, errlen, "device state is corrupt (CRC-32 mismatch)");
    }
    memcpy(&vcpus, b + 12, 4);
    memcpy(&mem, b + 16, 8);
    memcpy(&epoch, b + 24, 8);
    memcpy(&outputs, b + 32, 8);
    memcpy(&nregs, b + 40, 4);
    memcpy(&pending, b + 44, 4);
    if (vcpus != 1 || mem != vm->mem_bytes) {
        return cps_fail(err, errlen, "device state is for %u vCPUs and %llu bytes of RAM; this guest has 1 and %llu",
                        vcpus, (unsigned long long)mem, (unsigned long long)vm->mem_bytes);
    }
    uint64_t ordinal = 0;
    if (version >= 2) {
        memcpy(&ordinal, b + 48, 8);
    }
    if (nregs != NREGS || header + (uint64_t)nregs * REG_BYTES + pending + 4 != len) {
        return cps_fail(err, errlen, "device state has %u registers and %u pending output bytes in %llu bytes; "
                        "version %u has %u registers", nregs, pending, (unsigned long long)len, version,
                        (unsigned)NREGS);
    }
    uint64_t at = header;
    for (size_t i = 0; i < NREGS; i++, at += REG_BYTES) {
        uint32_t id, msr;
        memcpy(&id, b + at, 4);
        memcpy(&msr, b + at + 4, 4);
        if (id != (uint32_t)REGS[i].id || msr != REGS[i].msr) {
            return cps_fail(err, errlen, "device state register %zu is %u/0x%x, expected %d/0x%x", i, id, msr,
                            REGS[i].id, REGS[i].msr);
        }
        if (write_reg(vm->emu, &REGS[i], b + at + 8, err, errlen) != 0) {
            return -1;
        }
    }
    if (cps_io_check_pending(b + at, pending, err, errlen) != 0) {
        return -1;
    }
    pthread_mutex_lock(&vm->lock);
    int rc = cps_io_restore_pending(vm, b + at, pending);
    vm->epoch = epoch;
    vm->output_count = outputs;
    vm->port_ordinal = ordinal;
    pthread_mutex_unlock(&vm->lock);
    return rc == 0 ? 0 : cps_fail(err, errlen, "out of memory restoring pending output");
}

/*
 * A KVM guest's checkpoint on the emulated CPU: state.c walks and checks the CPSKVMST blob and hands each
 * section here. What the guests' machine has (long mode, flat segments, no interrupts, no x87 stack in use)
 * is translated; what the emulated backend could not honour (a pending event, several vCPUs, x87 registers
 * in use) refuses the restore rather than run a different machine.
 */
static int write_or_fail(struct cps_emu *e, int id, const void *value, const char *what, char *err, size_t errlen)
{
    uint8_t buf[64];
    memset(buf, 0, sizeof(buf));
    memcpy(buf, value, id == UC_X86_REG_GDTR || id == UC_X86_REG_IDTR || id == UC_X86_REG_LDTR || id == UC_X86_REG_TR
                           ? sizeof(uc_x86_mmr) : 16);
    return uc_check(uc_api.reg_write(e->uc, id, buf), what, err, errlen);
}

static int set64(struct cps_emu *e, int id, uint64_t v, const char *what, char *err, size_t errlen)
{
    uint8_t buf[16] = { 0 };
    memcpy(buf, &v, 8);
    return write_or_fail(e, id, buf, what, err, errlen);
}

static int set_msr(struct cps_emu *e, uint32_t index, uint64_t v, char *err, size_t errlen)
{
    uc_x86_msr msr = { .rid = index, .value = v };
    return uc_check(uc_api.reg_write(e->uc, UC_X86_REG_MSR, &msr), "writing an MSR", err, errlen);
}

static int apply_segment(struct cps_emu *e, int id, const struct kvm_segment *seg, char *err, size_t errlen)
{
    uint8_t now[16];
    struct reg_desc r = { id, 0 };
    if (read_reg(e, &r, now, err, errlen) != 0) {
        return -1;
    }
    uint16_t selector = seg->selector;
    if (memcmp(now, &selector, 2) != 0 && set64(e, id, selector, "loading a segment selector", err, errlen) != 0) {
        return -1;
    }
    if (id == UC_X86_REG_FS) {
        return set64(e, UC_X86_REG_FS_BASE, seg->base, "setting FS base", err, errlen);
    }
    if (id == UC_X86_REG_GS) {
        return set64(e, UC_X86_REG_GS_BASE, seg->base, "setting GS base", err, errlen);
    }
    return 0;
}

static int apply_sregs(struct cps_emu *e, const struct kvm_sregs *s, char *err, size_t errlen)
{
    uc_x86_mmr gdt = { .base = s->gdt.base, .limit = s->gdt.limit };
    uc_x86_mmr idt = { .base = s->idt.base, .limit = s->idt.limit };
    if (set_msr(e, 0xc0000080u, s->efer, err, errlen) != 0
        || set64(e, UC_X86_REG_CR4, s->cr4, "setting CR4", err, errlen) != 0
        || set64(e, UC_X86_REG_CR3, s->cr3, "setting CR3", err, errlen) != 0
        || set64(e, UC_X86_REG_CR0, s->cr0, "setting CR0", err, errlen) != 0
        || set64(e, UC_X86_REG_CR2, s->cr2, "setting CR2", err, errlen) != 0
        || write_or_fail(e, UC_X86_REG_GDTR, &gdt, "setting GDTR", err, errlen) != 0
        || write_or_fail(e, UC_X86_REG_IDTR, &idt, "setting IDTR", err, errlen) != 0) {
        return -1;
    }
    struct { int id; const struct kvm_segment *seg; } segs[] = {
        { UC_X86_REG_CS, &s->cs }, { UC_X86_REG_SS, &s->ss }, { UC_X86_REG_DS, &s->ds },
        { UC_X86_REG_ES, &s->es }, { UC_X86_REG_FS, &s->fs }, { UC_X86_REG_GS, &s->gs },
    };
    for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
        if (apply_segment(e, segs[i].id, segs[i].seg, err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}

static int apply_regs(struct cps_emu *e, const struct kvm_regs *r, char *err, size_t errlen)
{
    const struct { int id; uint64_t v; } regs[] = {
        { UC_X86_REG_RAX, r->rax }, { UC_X86_REG_RBX, r->rbx }, { UC_X86_REG_RCX, r->rcx },
        { UC_X86_REG_RDX, r->rdx }, { UC_X86_REG_RSI, r->rsi }, { UC_X86_REG_RDI, r->rdi },
        { UC_X86_REG_RSP, r->rsp }, { UC_X86_REG_RBP, r->rbp }, { UC_X86_REG_R8, r->r8 },
        { UC_X86_REG_R9, r->r9 }, { UC_X86_REG_R10, r->r10 }, { UC_X86_REG_R11, r->r11 },
        { UC_X86_REG_R12, r->r12 }, { UC_X86_REG_R13, r->r13 }, { UC_X86_REG_R14, r->r14 },
        { UC_X86_REG_R15, r->r15 }, { UC_X86_REG_RFLAGS, r->rflags },
    };
    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
        if (set64(e, regs[i].id, regs[i].v, "setting a general register", err, errlen) != 0) {
            return -1;
        }
    }
    e->rip = r->rip;
    return 0;
}

/* The x87/SSE state in FXSAVE layout (the start of an XSAVE area; struct kvm_fpu holds the same fields). */
static int apply_fp(struct cps_emu *e, uint16_t fcw, uint16_t fsw, uint8_t ftw_abridged, const uint8_t (*st)[16],
                    uint32_t mxcsr, const uint8_t (*xmm)[16], char *err, size_t errlen)
{
    if (ftw_abridged != 0) {
        return cps_fail(err, errlen, "the KVM guest has x87 registers in use (tag word 0x%02x); the emulated "
                        "backend restores only an empty x87 stack", ftw_abridged);
    }
    if (set64(e, UC_X86_REG_FPCW, fcw, "setting FPCW", err, errlen) != 0
        || set64(e, UC_X86_REG_FPSW, fsw, "setting FPSW", err, errlen) != 0
        || set64(e, UC_X86_REG_MXCSR, mxcsr, "setting MXCSR", err, errlen) != 0) {
        return -1;
    }
    (void)st; /* an empty stack: nothing in ST0-7 is live */
    for (int i = 0; i < 16; i++) {
        if (write_or_fail(e, UC_X86_REG_XMM0 + i, xmm[i], "setting an XMM register", err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}

int cps_emu_apply_kvm_section(struct cps_vm *vm, uint32_t type, const void *p, uint32_t n, char *err, size_t errlen)
{
    struct cps_emu *e = vm->emu;
    switch (type) {
    case SEC_SREGS:
        if (n != sizeof(struct kvm_sregs)) {
            return cps_fail(err, errlen, "device state: special registers section has %u bytes", n);
        }
        return apply_sregs(e, p, err, errlen);
    case SEC_REGS:
        if (n != sizeof(struct kvm_regs)) {
            return cps_fail(err, errlen, "device state: registers section has %u bytes", n);
        }
        return apply_regs(e, p, err, errlen);
    case SEC_XSAVE: {
        const uint8_t *x = p;
        if (n < 416) {
            return cps_fail(err, errlen, "device state: XSAVE section has %u bytes", n);
        }
        uint16_t fcw, fsw;
        uint32_t mxcsr;
        memcpy(&fcw, x, 2);
        memcpy(&fsw, x + 2, 2);
        memcpy(&mxcsr, x + 24, 4);
        return apply_fp(e, fcw, fsw, x[4], (const uint8_t(*)[16])(x + 32), mxcsr, (const uint8_t(*)[16])(x + 160),
                        err, errlen);
    }
    case SEC_FPU: {
        if (n != sizeof(struct kvm_fpu)) {
            return cps_fail(err, errlen, "device state: FPU section has %u bytes", n);
        }
        const struct kvm_fpu *f = p;
        return apply_fp(e, f->fcw, f->fsw, f->ftwx, (const uint8_t(*)[16])f->fpr, f->mxcsr,
                        (const uint8_t(*)[16])f->xmm, err, errlen);
    }
    case SEC_MSRS: {
        const struct kvm_msrs *m = p;
        if (n < sizeof(*m) || n != sizeof(*m) + (uint64_t)m->nmsrs * sizeof(struct kvm_msr_entry)) {
            return cps_fail(err, errlen, "device state: malformed MSR section");
        }
        for (uint32_t i = 0; i < m->nmsrs; i++) {
            uint32_t index = m->entries[i].index;
            /* the syscall MSRs and the swap-GS base; EFER came with the special registers */
            if ((index >= 0xc0000081u && index <= 0xc0000084u) || index == 0xc0000102u) {
                if (set_msr(e, index, m->entries[i].data, err, errlen) != 0) {
                    return -1;
                }
            }
        }
        return 0;
    }
    case SEC_EVENTS: {
        if (n != sizeof(struct kvm_vcpu_events)) {
            return cps_fail(err, errlen, "device state: vCPU events section has %u bytes", n);
        }
        const struct kvm_vcpu_events *ev = p;
        if (ev->exception.injected || ev->exception.pending || ev->interrupt.injected || ev->nmi.injected
            || ev->nmi.pending) {
            return cps_fail(err, errlen, "the KVM guest has an exception, interrupt or NMI in flight; the emulated "
                            "backend cannot deliver it");
        }
        return 0;
    }
    case SEC_CPUID:    /* the emulator's own CPU model answers CPUID */
    case SEC_XCRS:     /* XCR0 beyond x87/SSE is unused by guests without AVX state */
    case SEC_DEBUGREGS:/* no debug registers are armed by the guests */
    case SEC_MP_STATE: /* a halted vCPU halts again: its RIP is after the HLT, before the jump back to it */
        return 0;
    default:
        return cps_fail(err, errlen, "device state: unknown section type %u (written by a newer cpstream?)", type);
    }
}

int cps_vm_xtrace_open(struct cps_vm *vm, const char *path, uint32_t kinds, char *err, size_t errlen)
{
    struct cps_emu *e = vm->emu;
    if (e == NULL) {
        return cps_fail(err, errlen, "only an emulated guest can be traced instruction by instruction");
    }
    const uint32_t known = (1u << CPS_XTRACE_INSN) | (1u << CPS_XTRACE_MEMW) | (1u << CPS_XTRACE_IN)
                           | (1u << CPS_XTRACE_OUT);
    if (kinds == 0 || (kinds & ~known) != 0) {
        return cps_fail(err, errlen, "unknown execution trace kinds 0x%x", kinds);
    }
    if (e->trace != NULL) {
        return cps_fail(err, errlen, "an execution trace is already being written");
    }
    struct cps_vcpu *c = &vm->vcpus[0];
    uc_hook h;
    if (!e->trace_hooked) {
        /* Hooks are added once, and only for a traced guest: they slow every instruction and store. */
        if (uc_check(uc_api.hook_add(e->uc, &h, UC_HOOK_CODE, (void *)on_code, c, 1, 0), "hooking instructions",
                     err, errlen) != 0
            || uc_check(uc_api.hook_add(e->uc, &h, UC_HOOK_MEM_WRITE, (void *)on_write, c, 1, 0), "hooking stores",
                        err, errlen) != 0) {
            return -1;
        }
        e->trace_hooked = true;
    }
    FILE *f = fopen(path, "wbe");
    if (f == NULL) {
        return cps_fail(err, errlen, "cannot create execution trace %s: %s", path, strerror(errno));
    }
    setvbuf(f, NULL, _IOFBF, 1u << 20);
    uint8_t header[32] = { 0 };
    uint64_t magic = XTRACE_MAGIC, start = vm->port_ordinal;
    uint32_t version = XTRACE_VERSION;
    memcpy(header, &magic, 8);
    memcpy(header + 8, &version, 4);
    memcpy(header + 12, &kinds, 4);
    memcpy(header + 16, &start, 8);
    fwrite(header, sizeof(header), 1, f);
    pthread_mutex_lock(&e->trace_lock);
    e->trace = f;
    e->trace_kinds = kinds;
    e->trace_records = 0;
    pthread_mutex_unlock(&e->trace_lock);
    return 0;
}

int cps_vm_xtrace_close(struct cps_vm *vm, uint64_t *records, char *err, size_t errlen)
{
    struct cps_emu *e = vm->emu;
    if (e == NULL || e->trace == NULL) {
        return cps_fail(err, errlen, "no execution trace is being written");
    }
    pthread_mutex_lock(&e->trace_lock);
    FILE *f = e->trace;
    e->trace = NULL;
    *records = e->trace_records;
    xtrace_put(f, XTRACE_END, 0, 0, vm->port_ordinal, e->trace_records, 0);
    pthread_mutex_unlock(&e->trace_lock);
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed) {
        return cps_fail(err, errlen, "writing the execution trace failed: %s", strerror(errno));
    }
    return 0;
}

#else /* built without the Unicorn headers */

static int no_unicorn(char *err, size_t errlen)
{
    return cps_fail(err, errlen, "this shim was built without Unicorn's headers (Debian package libunicorn-dev); "
                    "rebuild it to use the emulated backend");
}

int cps_emu_available(char *err, size_t errlen) { return no_unicorn(err, errlen); }
int cps_emu_init(struct cps_vm *vm, char *err, size_t errlen) { (void)vm; return no_unicorn(err, errlen); }
void cps_emu_free(struct cps_vm *vm) { (void)vm; }
bool cps_emu_run(struct cps_vcpu *c) { (void)c; return false; }
int cps_emu_set_entry(struct cps_vm *vm, char *err, size_t errlen) { (void)vm; return no_unicorn(err, errlen); }
uint64_t cps_emu_state_max(struct cps_vm *vm) { (void)vm; return 64; }
int cps_emu_save_state(struct cps_vm *vm, void *buf, uint64_t cap, uint64_t *len, char *err, size_t errlen)
{
    (void)vm; (void)buf; (void)cap; (void)len;
    return no_unicorn(err, errlen);
}
int cps_emu_load_state(struct cps_vm *vm, const void *buf, uint64_t len, char *err, size_t errlen)
{
    (void)vm; (void)buf; (void)len;
    return no_unicorn(err, errlen);
}
int cps_emu_apply_kvm_section(struct cps_vm *vm, uint32_t type, const void *p, uint32_t n, char *err, size_t errlen)
{
    (void)vm; (void)type; (void)p; (void)n;
    return no_unicorn(err, errlen);
}
int cps_vm_xtrace_open(struct cps_vm *vm, const char *path, uint32_t kinds, char *err, size_t errlen)
{
    (void)vm; (void)path; (void)kinds;
    return no_unicorn(err, errlen);
}
int cps_vm_xtrace_close(struct cps_vm *vm, uint64_t *records, char *err, size_t errlen)
{
    (void)vm; (void)records;
    return no_unicorn(err, errlen);
}

#endif
