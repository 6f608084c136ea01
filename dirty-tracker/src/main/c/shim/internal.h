/* Shared internals of the shim: the VM and vCPU structures and the helpers each file provides. */
#ifndef CPSKVM_INTERNAL_H
#define CPSKVM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../abi/cpskvm_abi.h"
#include "cpskvm.h"
#include "uffd.h"

#define CPS_ERR_MAX 512

struct cps_vcpu {
    struct cps_vm *vm;
    uint32_t id;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    bool thread_started;
    bool parked;                 /* guarded by vm->lock: out of KVM_RUN, no exit awaiting completion */
    struct kvm_dirty_gfn *ring;  /* dirty ring mode only */
    uint32_t ring_fetch;         /* next ring entry to collect; guarded by vm->dirty_lock */
};

struct cps_emu;

/* Outputs whose emission time cps_vm_output_time still knows. */
#define CPS_OUT_TIMES 4096

struct cps_vm {
    uint32_t backend;            /* CPS_BACKEND_KVM or CPS_BACKEND_EMU */
    struct cps_emu *emu;         /* emu.c: the emulator, emulated backend only */
    int kvm_fd;
    int vm_fd;
    int mem_fd;
    uint8_t *mem;
    uint64_t mem_bytes;
    uint64_t pages;
    uint32_t nvcpus;
    struct cps_vcpu vcpus[CPS_MAX_VCPUS];

    /* Run control. lock guards everything below it up to the channel state. */
    pthread_mutex_t lock;
    pthread_cond_t run_cv;       /* vCPUs wait here while paused */
    pthread_cond_t parked_cv;    /* the stunner waits here for vCPUs to park */
    pthread_cond_t wake_cv;      /* vCPUs blocked in the VMM (hlt, input, full output) wait here */
    bool paused;
    bool quit;
    uint32_t nparked;
    char fault[CPS_ERR_MAX];     /* first fatal error of any vCPU; empty while healthy */

    /* Channels, guarded by lock. */
    uint64_t epoch;              /* outputs emitted now belong to this epoch */
    uint64_t output_count;       /* outputs emitted since boot */
    pthread_cond_t output_cv;    /* the host's output waiter (cps_vm_await_output) waits here; CLOCK_MONOTONIC */
    bool output_wake;            /* cps_vm_wake_output_waiter was called since the waiter last returned */
    uint8_t *out_buf;            /* encoded output records awaiting drain */
    size_t out_len, out_cap;
    /* When each of the latest outputs was emitted (CLOCK_MONOTONIC ns, slot index % CPS_OUT_TIMES), so a
     * benchmark can measure an output's latency from the guest's OUT to its release; never in any state. */
    struct { uint64_t index, ns; } out_times[CPS_OUT_TIMES];
    uint8_t *con_buf;
    size_t con_len, con_cap;
    uint8_t (*in_queue)[CPS_RECORD_MAX];
    uint32_t in_lens[64];
    uint32_t in_head, in_count;
    bool in_waiting;             /* the vCPU waits in the input poll for a request: an idle guest */

    /* Record/replay (replay.c), guarded by lock. */
    uint64_t port_ordinal;       /* port accesses since boot: positions every recorded input */
    uint32_t rr_mode;            /* CPS_RR_OFF, CPS_RR_RECORD or CPS_RR_REPLAY */
    uint8_t *ev_buf;             /* recording: encoded events awaiting drain */
    size_t ev_len, ev_cap;
    uint8_t *rp_buf;             /* replaying: encoded events, consumed from rp_pos */
    size_t rp_len, rp_cap, rp_pos;
    uint64_t rp_end;             /* the log covers port accesses below this */
    uint32_t rp_then;            /* the mode at rp_end: CPS_RR_REPLAY waits there, the others go on live */
    bool rp_at_end;              /* the vCPU waits at rp_end */
    bool rp_in_access;           /* the vCPU waits at rp_end inside an access (no exact device state) */

    /* Dirty tracking. */
    uint32_t dirty_mode;
    uint32_t ring_entries;
    bool ring_acq_rel;
    _Atomic uint64_t *vmm_dirty; /* pages the VMM wrote itself, and all pages before the first harvest */
    uint64_t *ring_dirty;        /* ring mode: pages collected from rings between harvests */
    uint64_t *scratch;           /* bitmap mode: KVM_GET_DIRTY_LOG target */
    uint64_t bitmap_words;
    pthread_mutex_t dirty_lock;

    /* dirty=pagemap (pagemap.c): asynchronous write-protect userfaultfd, /proc/self/pagemap, scan vector. */
    int pm_uffd;
    int pm_fd;
    void *pm_vec;

    /* Copy-before-write (protect.c); everything below is guarded by prot_lock. */
    pthread_mutex_t prot_lock;
    bool prot_ready;             /* uffd registered, shadow mapped, fault thread running */
    bool prot_open;              /* a protected set awaits release */
    int uffd;
    int prot_stop_fd;            /* eventfd that stops the fault thread */
    pthread_t prot_thread;
    bool prot_thread_started;
    uint8_t *shadow;             /* saved stun-time copies, each at its page's offset */
    uint64_t *prot_bits;         /* protected and not yet copied or saved */
    uint64_t *saved_bits;        /* saved by a fault, not yet copied */
    uint64_t cow_faults;
    uint64_t lift_first, lift_count; /* copied pages whose protection is still to be lifted, one run */
    char prot_fault_err[CPS_ERR_MAX];

    /* State save/restore. */
    struct kvm_msr_list *msrs;   /* MSRs this host can both read and write for this VM */
    uint32_t xsave_size;
    struct kvm_cpuid2 *cpuid;    /* what every vCPU is given at creation */
};

/* error.c */
int cps_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cps_fail_errno(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* memory helpers (vm.c) */
void *cps_guest_ptr(struct cps_vm *vm, uint64_t gpa, uint64_t len);

/* The time ns from now on clock, for pthread_cond_timedwait on a condition variable of that clock (vm.c). */
struct timespec cps_deadline(clockid_t clock, uint64_t ns);

/* dirty.c */
int cps_dirty_init_vm(struct cps_vm *vm, char *err, size_t errlen);
int cps_dirty_init_vcpu(struct cps_vcpu *c, char *err, size_t errlen);
void cps_dirty_free(struct cps_vm *vm);
void cps_dirty_mark(struct cps_vm *vm, uint64_t gpa, uint64_t len);
int cps_dirty_ring_full(struct cps_vcpu *c, char *err, size_t errlen);
int cps_dirty_harvest(struct cps_vm *vm, uint64_t *bitmap, uint64_t words, char *err, size_t errlen);

/* pagemap.c */
int cps_pagemap_init(struct cps_vm *vm, char *err, size_t errlen);
int cps_pagemap_harvest(struct cps_vm *vm, uint64_t *bitmap, char *err, size_t errlen);
void cps_pagemap_free(struct cps_vm *vm);

/* protect.c */
void cps_protect_free(struct cps_vm *vm);

/* vcpu.c */
int cps_vcpu_start_threads(struct cps_vm *vm, char *err, size_t errlen);
void cps_vcpu_stop_threads(struct cps_vm *vm);
void cps_vcpu_fault(struct cps_vcpu *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * io.c: the host-bound queues (output records, recorded input events) hold records of one shape: a 20-byte
 * header whose bytes 16..19 are the payload length, then the payload. cps_records_take moves the whole records
 * at the front that fit in cap bytes to dst and returns the bytes moved; cps_buf_reserve grows a buffer (doubling)
 * to hold need bytes. Both with vm->lock held where the buffer is a VM's.
 */
#define CPS_RECORD_HEADER 20u
bool cps_buf_reserve(uint8_t **buf, size_t *cap, size_t need);
size_t cps_records_take(uint8_t *queue, size_t *queue_len, void *dst, size_t cap);

/* io.c: called on a vCPU thread with vm->lock not held; returns false when the vCPU must stop. */
bool cps_io_exit(struct cps_vcpu *c);
bool cps_io_halt(struct cps_vcpu *c);
void cps_io_free(struct cps_vm *vm);

/* io.c: puts drained-format output records back in front of the output buffer (restore); lock held. */
int cps_io_restore_pending(struct cps_vm *vm, const uint8_t *records, size_t len);
/* io.c: 0 if len bytes are whole output records of at most CPS_RECORD_MAX payload bytes (a device state's pending
 * output, before it is restored); else -1 with the reason in err. */
int cps_io_check_pending(const uint8_t *records, size_t len, char *err, size_t errlen);

/* replay.c: every port access passes cps_rr_gate before and cps_rr_done after it (vm->lock not held). */
#define CPS_RR_KIND_VALUE 1u   /* an IN's value */
#define CPS_RR_KIND_RECORD 2u  /* an input record the VMM wrote into guest memory */
struct cps_rr_event {
    uint32_t value;
    uint32_t len;
    uint8_t data[CPS_RECORD_MAX];
};
/* 0: live access; 1: replayed (ev filled for kinds 1 and 2); -1: stop the vCPU (divergence fault, or shutdown). */
int cps_rr_gate(struct cps_vcpu *c, uint16_t port, uint8_t kind, struct cps_rr_event *ev);
/* Counts the access and, when recording an input kind, logs its result; false (fault recorded) if it cannot. */
bool cps_rr_done(struct cps_vcpu *c, uint16_t port, uint8_t kind, uint32_t value, const void *data, uint32_t len);
void cps_rr_free(struct cps_vm *vm);
/* False while the vCPU waits inside an access (its registers are not at an instruction boundary). */
bool cps_rr_state_exact(struct cps_vm *vm);

/* emu.c: the emulated vCPU (Unicorn, loaded on first use). vCPU 0's kvm_run is a plain allocation. */
int cps_emu_init(struct cps_vm *vm, char *err, size_t errlen);
void cps_emu_free(struct cps_vm *vm);
bool cps_emu_run(struct cps_vcpu *c); /* runs until a stun (true) or a fault (false) */
int cps_emu_set_entry(struct cps_vm *vm, char *err, size_t errlen);
uint64_t cps_emu_state_max(struct cps_vm *vm);
int cps_emu_save_state(struct cps_vm *vm, void *buf, uint64_t cap, uint64_t *len, char *err, size_t errlen);
int cps_emu_load_state(struct cps_vm *vm, const void *buf, uint64_t len, char *err, size_t errlen);
/* A KVM guest's state (state.c walks and checks the blob) applied to an emulated vCPU, section by section. */
int cps_emu_apply_kvm_section(struct cps_vm *vm, uint32_t type, const void *p, uint32_t n, char *err, size_t errlen);
#define CPS_EMU_STATE_MAGIC 0x5453554d45535043ull /* "CPSEMUST" */

/* state.c: the sections of a KVM guest's device state, in restore order. */
enum section {
    SEC_CPUID = 1,
    SEC_SREGS = 2,
    SEC_REGS = 3,
    SEC_XCRS = 4,
    SEC_XSAVE = 5,
    SEC_FPU = 6,
    SEC_MSRS = 7,
    SEC_DEBUGREGS = 8,
    SEC_EVENTS = 9,
    SEC_MP_STATE = 10,
    /* VM-wide (vCPU 0), version 2 on: output records the guest emitted that were still in the shim at the stun. */
    SEC_PENDING_OUTPUT = 11,
};

/* state.c */
int cps_state_probe(struct cps_vm *vm, char *err, size_t errlen);

#endif
