/*
 * The contract between the VMM shim and the guests it runs: guest-physical memory layout, I/O ports
 * and the record format used on them. Shared by both sides so they cannot drift apart; the Java side
 * mirrors the few numbers it needs in io.cpstream.tracker.kvm.GuestAbi.
 */
#ifndef CPSKVM_ABI_H
#define CPSKVM_ABI_H

#define CPS_PAGE_SIZE       4096u

/* Guest-physical layout. Guests start in 64-bit long mode: the shim builds these pages. */
#define CPS_GDT_GPA         0x0500u
#define CPS_PML4_GPA        0x1000u
#define CPS_PDPT_GPA        0x2000u
#define CPS_PD_GPA          0x3000u     /* one page directory: the first 1 GiB, 2 MiB pages */
#define CPS_BOOTINFO_GPA    0x7000u
#define CPS_STACK_TOP       0xF0000u    /* vCPU n's stack ends at CPS_STACK_TOP - n * CPS_STACK_SIZE */
#define CPS_STACK_SIZE      0x10000u
#define CPS_IMAGE_GPA       0x100000u   /* the flat guest binary; its first byte is the entry point */
#define CPS_IMAGE_MAX       0x100000u
#define CPS_DATA_GPA        0x200000u   /* guests' working memory: from here to the end of RAM */
#define CPS_MIN_MEM         (4u << 20)
#define CPS_MAX_MEM         (1u << 30)  /* what the one page directory maps */
#define CPS_MAX_VCPUS       4u

/*
 * I/O ports. Every channel carries the guest-physical address of a struct cps_record rather than the
 * data itself, so one exit moves a whole record and the VMM keeps no half-received state that a
 * checkpoint would have to capture.
 */
#define CPS_PORT_CONSOLE     0x3f8u  /* outb: one byte of diagnostic text */
#define CPS_PORT_OUTPUT      0x500u  /* outl: gpa of a record to emit on the output channel */
#define CPS_PORT_INPUT_POLL  0x501u  /* inl: length of the next queued input request, 0 if none */
#define CPS_PORT_INPUT_FETCH 0x502u  /* outl: gpa of a record the VMM fills with the next request */
#define CPS_PORT_PANIC       0x503u  /* outl: the guest hit an internal error (code) and stops */

#define CPS_RECORD_MAX       1024u   /* payload bytes in one record, either direction */

#define CPS_BOOTINFO_MAGIC   0x4f464e49544f4f42ull /* "BOOTINFO" */
#define CPS_MAX_ARGS         8u

#ifndef __ASSEMBLER__
#include <stdint.h>

/* A record on a channel. For input, the guest sets cap and the VMM writes len and data (len 0: none). */
struct cps_record {
    uint32_t len;
    uint32_t cap;
    uint8_t data[];
};

/* What the VMM tells a freshly booted guest (at CPS_BOOTINFO_GPA, its address also in %rsi). */
struct cps_bootinfo {
    uint64_t magic;
    uint64_t mem_bytes;
    uint32_t vcpus;
    uint32_t nargs;
    uint64_t args[CPS_MAX_ARGS];
};
#endif

#endif
