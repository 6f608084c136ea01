/*
 * Boots a guest straight into 64-bit long mode, the way Firecracker does: the VMM writes the GDT and
 * identity-mapped page tables into guest RAM and sets the control registers, so guests need no
 * real-mode or protected-mode startup code (which would crawl through the instruction emulator of a
 * nested KVM).
 */
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

#define PTE_P   (1ull << 0)
#define PTE_RW  (1ull << 1)
#define PTE_A   (1ull << 5)
#define PTE_D   (1ull << 6)
#define PTE_PS  (1ull << 7)

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS  0x18

static int write_tables(struct cps_vm *vm, char *err, size_t errlen)
{
    /* Flat 64-bit code and data descriptors; entry 3 (and 4) would describe a TSS, which we never load. */
    uint64_t gdt[5] = {
        0,
        0x00af9b000000ffffull, /* code: present, DPL 0, long mode (L=1), accessed */
        0x00cf93000000ffffull, /* data: present, DPL 0, writable, accessed */
        0x00008b0000000067ull, /* 64-bit TSS, busy, base 0, limit 0x67 */
        0,
    };
    if (cps_vm_write(vm, CPS_GDT_GPA, gdt, sizeof(gdt), err, errlen) != 0) {
        return -1;
    }
    /*
     * Identity map the first 1 GiB with 2 MiB pages. Accessed and dirty bits are preset so the CPU never
     * writes the tables: they would otherwise show up in every epoch's dirty set.
     */
    uint64_t pml4[512] = { 0 }, pdpt[512] = { 0 }, pd[512];
    pml4[0] = CPS_PDPT_GPA | PTE_P | PTE_RW | PTE_A;
    pdpt[0] = CPS_PD_GPA | PTE_P | PTE_RW | PTE_A;
    for (uint64_t i = 0; i < 512; i++) {
        pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS;
    }
    if (cps_vm_write(vm, CPS_PML4_GPA, pml4, sizeof(pml4), err, errlen) != 0
        || cps_vm_write(vm, CPS_PDPT_GPA, pdpt, sizeof(pdpt), err, errlen) != 0
        || cps_vm_write(vm, CPS_PD_GPA, pd, sizeof(pd), err, errlen) != 0) {
        return -1;
    }
    return 0;
}

static void set_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, bool code)
{
    memset(s, 0, sizeof(*s));
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = selector;
    s->type = type;
    s->present = 1;
    s->dpl = 0;
    s->db = code ? 0 : 1; /* a long-mode code segment must have D=0 */
    s->s = 1;
    s->l = code ? 1 : 0;
    s->g = 1;
}

static int set_entry_state(struct cps_vm *vm, struct cps_vcpu *c, char *err, size_t errlen)
{
    struct kvm_sregs sregs;
    if (ioctl(c->fd, KVM_GET_SREGS, &sregs) != 0) {
        return cps_fail_errno(err, errlen, "KVM_GET_SREGS on vCPU %u failed", c->id);
    }
    set_segment(&sregs.cs, SEL_CODE, 0xb, true);
    set_segment(&sregs.ds, SEL_DATA, 0x3, false);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    memset(&sregs.tr, 0, sizeof(sregs.tr));
    sregs.tr.selector = SEL_TSS;
    sregs.tr.limit = 0x67;
    sregs.tr.type = 0xb;
    sregs.tr.present = 1;
    sregs.gdt.base = CPS_GDT_GPA;
    sregs.gdt.limit = 5 * 8 - 1;
    sregs.idt.base = 0;
    sregs.idt.limit = 0; /* guests take no interrupts; an exception then triple-faults and is reported */
    sregs.cr3 = CPS_PML4_GPA;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.efer = EFER_LME | EFER_LMA;
    if (ioctl(c->fd, KVM_SET_SREGS, &sregs) != 0) {
        return cps_fail_errno(err, errlen, "KVM_SET_SREGS (long mode entry) on vCPU %u failed", c->id);
    }
    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rflags = 0x2; /* bit 1 is reserved and must be set */
    regs.rip = CPS_IMAGE_GPA;
    regs.rsp = CPS_STACK_TOP - (uint64_t)c->id * CPS_STACK_SIZE;
    regs.rdi = c->id;
    regs.rsi = CPS_BOOTINFO_GPA;
    if (ioctl(c->fd, KVM_SET_REGS, &regs) != 0) {
        return cps_fail_errno(err, errlen, "KVM_SET_REGS on vCPU %u failed", c->id);
    }
    (void)vm;
    return 0;
}

int cps_vm_boot(struct cps_vm *vm, const void *image, uint64_t image_len, const uint64_t *args, uint32_t nargs,
                char *err, size_t errlen)
{
    if (image_len == 0 || image_len > CPS_IMAGE_MAX) {
        return cps_fail(err, errlen, "guest image must be 1..%u bytes, not %llu", CPS_IMAGE_MAX,
                        (unsigned long long)image_len);
    }
    if (nargs > CPS_MAX_ARGS) {
        return cps_fail(err, errlen, "at most %u guest arguments, not %u", CPS_MAX_ARGS, nargs);
    }
    pthread_mutex_lock(&vm->lock);
    bool stopped = vm->paused && vm->nparked == vm->nvcpus;
    pthread_mutex_unlock(&vm->lock);
    if (!stopped) {
        return cps_fail(err, errlen, "a guest can only be booted while its vCPUs are stopped");
    }
    struct cps_bootinfo info;
    memset(&info, 0, sizeof(info));
    info.magic = CPS_BOOTINFO_MAGIC;
    info.mem_bytes = vm->mem_bytes;
    info.vcpus = vm->nvcpus;
    info.nargs = nargs;
    if (nargs > 0) {
        memcpy(info.args, args, nargs * sizeof(uint64_t));
    }
    if (write_tables(vm, err, errlen) != 0
        || cps_vm_write(vm, CPS_BOOTINFO_GPA, &info, sizeof(info), err, errlen) != 0
        || cps_vm_write(vm, CPS_IMAGE_GPA, image, image_len, err, errlen) != 0) {
        return -1;
    }
    if (vm->backend == CPS_BACKEND_EMU) {
        return cps_emu_set_entry(vm, err, errlen);
    }
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        if (set_entry_state(vm, &vm->vcpus[i], err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}
