/*
 * Public API of the cpstream KVM shim: the only symbols the Java side binds (through the FFM API).
 *
 * Conventions: functions that can fail return 0 on success and -1 on failure, after writing a
 * human-readable reason into err (errlen bytes, always NUL-terminated). Functions taking a vm are
 * safe to call from any thread, but stun/resume/harvest/state calls must not race each other: the
 * Java side serialises them.
 */
#ifndef CPSKVM_H
#define CPSKVM_H

#include <stddef.h>
#include <stdint.h>

#define CPS_DIRTY_BITMAP 0u /* KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG (manual protect) */
#define CPS_DIRTY_RING   1u /* per-vCPU dirty ring */
#define CPS_DIRTY_PAGEMAP 2u /* userfaultfd async write-protect + PAGEMAP_SCAN (Linux 6.7+), no KVM dirty log */

#define CPS_BACKEND_KVM 0u /* /dev/kvm */
#define CPS_BACKEND_EMU 1u /* an emulated CPU (Unicorn, libunicorn.so.2 loaded on first use); dirty=pagemap only */

struct cps_vm;

/*
 * Creates a guest whose one vCPU is emulated (Unicorn) instead of run by KVM: same memory layout, boot,
 * ports, channels and stun as a KVM guest; dirty pages by userfaultfd async write-protect + PAGEMAP_SCAN.
 */
struct cps_vm *cps_vm_create_emu(uint64_t mem_bytes, char *err, size_t errlen);

/* 0 if the emulated backend can be used here (libunicorn.so.2 loads); else -1 with the reason. */
int cps_emu_available(char *err, size_t errlen);

/* Creates a VM with mem_bytes of memfd-backed RAM and vcpus parked vCPU threads. Not yet booted. */
struct cps_vm *cps_vm_create(uint64_t mem_bytes, uint32_t vcpus, uint32_t dirty_mode, uint32_t ring_entries,
                             char *err, size_t errlen);

/* Host address of guest RAM (guest-physical 0). Stays valid until cps_vm_destroy. */
void *cps_vm_memory(struct cps_vm *vm);

/* Writes guest memory on behalf of the VMM and marks the pages dirty (KVM does not log these). */
int cps_vm_write(struct cps_vm *vm, uint64_t gpa, const void *src, uint64_t len, char *err, size_t errlen);

/* Marks every page dirty, e.g. after the caller filled RAM through cps_vm_memory() for a restore. */
void cps_vm_mark_all_dirty(struct cps_vm *vm);

/* Loads a flat guest image, builds long-mode page tables and boot info, and sets every vCPU to its entry. */
int cps_vm_boot(struct cps_vm *vm, const void *image, uint64_t image_len, const uint64_t *args, uint32_t nargs,
                char *err, size_t errlen);

/* Lets the vCPUs run (the first time, or after cps_vm_stun). */
int cps_vm_resume(struct cps_vm *vm, char *err, size_t errlen);

/*
 * Stops every vCPU: each is kicked out of KVM_RUN and parks with no I/O half done. On return no vCPU
 * runs; *stop_ns is how long that took. Seals the current output epoch: *sealed_epoch receives its
 * number, and outputs emitted from now on belong to the next one. *output_count is the number of
 * outputs emitted since boot (over the VM's whole history, restores included).
 */
int cps_vm_stun(struct cps_vm *vm, uint64_t *stop_ns, uint64_t *sealed_epoch, uint64_t *output_count,
                char *err, size_t errlen);

/* While stunned: ORs pages dirtied since the last harvest into bitmap (bit n = page n) and resets. */
int cps_vm_harvest(struct cps_vm *vm, uint64_t *bitmap, uint64_t words, char *err, size_t errlen);

/* Upper bound of the device-state blob's size. */
uint64_t cps_vm_state_max(struct cps_vm *vm);

/* While stunned: serialises every vCPU's state (and the VM's channel counters) into buf. */
int cps_vm_save_state(struct cps_vm *vm, void *buf, uint64_t cap, uint64_t *len, char *err, size_t errlen);

/* Before the first resume, instead of cps_vm_boot: loads a blob from cps_vm_save_state. */
int cps_vm_load_state(struct cps_vm *vm, const void *buf, uint64_t len, char *err, size_t errlen);

/* Queues one host->guest request (at most CPS_RECORD_MAX bytes). Returns 1 if queued, 0 if the queue is full. */
int cps_vm_input(struct cps_vm *vm, const void *data, uint32_t len, char *err, size_t errlen);

/*
 * Moves emitted outputs into buf as a sequence of [u64 epoch][u64 index][u32 len][len bytes],
 * whole records only. Returns the bytes written.
 */
uint64_t cps_vm_drain_output(struct cps_vm *vm, void *buf, uint64_t cap);
/* Waits until the guest has emitted more than seen outputs since boot, cps_vm_wake_output_waiter is called, the
 * VM stops, or timeout_ns pass; returns the outputs emitted since boot. For a host thread that takes the outputs as
 * they come (record/replay's input recorder) instead of polling. One waiter at a time. */
uint64_t cps_vm_await_output(struct cps_vm *vm, uint64_t seen, uint64_t timeout_ns);
/* Makes the waiter in cps_vm_await_output return now, or its next call return at once. */
void cps_vm_wake_output_waiter(struct cps_vm *vm);

/*
 * When output `index` was emitted by this VM (CLOCK_MONOTONIC ns, the clock of Java's System.nanoTime on
 * Linux), or 0 if unknown: emitted before a restore, or more than 4096 outputs ago.
 */
uint64_t cps_vm_output_time(struct cps_vm *vm, uint64_t index);

/* Moves console text into buf; returns the bytes written. */
uint64_t cps_vm_drain_console(struct cps_vm *vm, void *buf, uint64_t cap);

/* 0 while the guest is healthy; -1 with the reason once a vCPU has stopped on an error. */
int cps_vm_check(struct cps_vm *vm, char *err, size_t errlen);

/*
 * Copy-before-write (userfaultfd write-protect on guest RAM, set up on first use).
 * probe: sets it up now; fails with the reason when this kernel, this user or the dirty mode cannot.
 * protect: while stunned, write-protects the pages set in bitmap; a guest or VMM write to one of them
 *   first saves the page (a fault thread does it), so protected_copy yields it as it was at the stun.
 * protected_copy: copies a protected page (as of the stun) into dst and lifts its protection; once a page.
 * release: lifts every remaining protection and frees saved copies; the next protect may follow.
 * cow_faults: pages saved by a fault since the last protect.
 */
int cps_vm_protect_probe(struct cps_vm *vm, char *err, size_t errlen);
int cps_vm_protect(struct cps_vm *vm, const uint64_t *bitmap, uint64_t words, char *err, size_t errlen);
int cps_vm_protected_copy(struct cps_vm *vm, uint64_t page, void *dst, char *err, size_t errlen);
int cps_vm_protect_release(struct cps_vm *vm, char *err, size_t errlen);
uint64_t cps_vm_cow_faults(struct cps_vm *vm);

/*
 * Record/replay of the guest's inputs (replay.c; emulated backend only). Events are encoded
 *   u64 port-access ordinal, u16 port, u8 kind (1 IN value, 2 input record), u8 0, u32 value, u32 len, len bytes.
 * record: starts (on) or stops logging every input result. drain_events: moves whole events into buf and sets
 *   *covered: every event of a port access below it is in buf or was drained before.
 * replay: before the guest runs, feeds it events [its ordinal, end) instead of live input; at `end` the guest
 *   waits inside that access, before it has any effect (then = CPS_RR_REPLAY; memory as just before the access, no
 *   device state), or goes on live (CPS_RR_OFF) or live and recording (CPS_RR_RECORD; the replayed inputs are
 *   logged too).
 * replay_extend: appends events and moves the end (a replay that waits there goes on).
 * rr_status: out[0] port ordinal, [1] mode, [2] waiting at the end, [3] replay end, [4] undrained event bytes,
 *   [5] waiting in the input poll for a request (1: the guest is idle there, its memory unchanging until input comes).
 * wait_replay_end: waits until the guest waits at the replay's end (0), or a fault or the timeout (-1).
 */
#define CPS_RR_OFF 0u
#define CPS_RR_RECORD 1u
#define CPS_RR_REPLAY 2u
int cps_vm_record(struct cps_vm *vm, int on, char *err, size_t errlen);
uint64_t cps_vm_drain_events(struct cps_vm *vm, void *buf, uint64_t cap, uint64_t *covered);
int cps_vm_replay(struct cps_vm *vm, const void *events, uint64_t len, uint64_t end, uint32_t then, char *err,
                  size_t errlen);
int cps_vm_replay_extend(struct cps_vm *vm, const void *events, uint64_t len, uint64_t end, char *err, size_t errlen);
void cps_vm_rr_status(struct cps_vm *vm, uint64_t *out);
int cps_vm_wait_replay_end(struct cps_vm *vm, uint64_t timeout_ms, char *err, size_t errlen);

/*
 * Execution trace (emulated backend only; emu.c): xtrace_open starts writing a record of each event of the kinds
 * given (a mask of 1 << CPS_XTRACE_*) to path, from the vCPU thread; xtrace_close writes the end record, closes the
 * file and sets *records. The format is dirty-tracker/EXECUTION-TRACE-FORMAT.md (version 1). Instructions and stores
 * are hooked on the first open only, and slow the guest from then on: trace a guest made for it (a replay).
 */
#define CPS_XTRACE_INSN 1u
#define CPS_XTRACE_MEMW 2u
#define CPS_XTRACE_IN 3u
#define CPS_XTRACE_OUT 4u
int cps_vm_xtrace_open(struct cps_vm *vm, const char *path, uint32_t kinds, char *err, size_t errlen);
int cps_vm_xtrace_close(struct cps_vm *vm, uint64_t *records, char *err, size_t errlen);

/* Stops the vCPU threads and frees everything. */
void cps_vm_destroy(struct cps_vm *vm);

#endif
