/*
 * Port I/O devices: the console, the output channel (the guest's externally visible output) and the
 * input channel (host->guest requests). They run on the vCPU thread that took the exit. A vCPU that
 * must wait here (halted, polling an empty input queue, output full) waits on wake_cv and gives up
 * as soon as a stun is requested, so a stun never waits for the guest's host-side I/O.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define CPS_INPUT_SLOTS 64u
#define CPS_OUTPUT_SOFT_CAP (4u << 20) /* beyond this a vCPU waits for the host to drain (backpressure) */
#define CPS_CONSOLE_CAP (64u << 10)
#define CPS_OUT_HEADER CPS_RECORD_HEADER /* u64 epoch, u64 index, u32 len */

void cps_io_free(struct cps_vm *vm)
{
    free(vm->out_buf);
    free(vm->con_buf);
    free(vm->in_queue);
    cps_rr_free(vm);
}

bool cps_buf_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) {
        return true;
    }
    size_t n = *cap ? *cap : 4096;
    while (n < need) {
        n *= 2;
    }
    uint8_t *grown = realloc(*buf, n);
    if (grown == NULL) {
        return false;
    }
    *buf = grown;
    *cap = n;
    return true;
}

size_t cps_records_take(uint8_t *queue, size_t *queue_len, void *dst, size_t cap)
{
    size_t used = 0;
    while (used + CPS_RECORD_HEADER <= *queue_len) {
        uint32_t len;
        memcpy(&len, queue + used + 16, 4);
        if (used + CPS_RECORD_HEADER + len > cap) {
            break;
        }
        used += CPS_RECORD_HEADER + len;
    }
    if (used > 0) {
        memcpy(dst, queue, used);
        memmove(queue, queue + used, *queue_len - used);
        *queue_len -= used;
    }
    return used;
}

/* Validates a guest record header at gpa; returns it or NULL after recording a fault. */
static struct cps_record *guest_record(struct cps_vcpu *c, uint64_t gpa, const char *what)
{
    struct cps_record *rec = cps_guest_ptr(c->vm, gpa, sizeof(struct cps_record));
    if (rec == NULL) {
        cps_vcpu_fault(c, "%s record at 0x%llx is outside guest RAM", what, (unsigned long long)gpa);
    }
    return rec;
}

static bool emit_output(struct cps_vcpu *c, uint64_t gpa)
{
    struct cps_vm *vm = c->vm;
    struct cps_record *rec = guest_record(c, gpa, "output");
    if (rec == NULL) {
        return false;
    }
    uint32_t len = rec->len;
    if (len > CPS_RECORD_MAX || cps_guest_ptr(vm, gpa + sizeof(*rec), len) == NULL) {
        cps_vcpu_fault(c, "output record at 0x%llx has bad length %u", (unsigned long long)gpa, len);
        return false;
    }
    pthread_mutex_lock(&vm->lock);
    /* Backpressure, except while a stun is pending: the stun must not wait for the host to drain. */
    while (vm->out_len + CPS_OUT_HEADER + len > CPS_OUTPUT_SOFT_CAP && !vm->paused && !vm->quit) {
        pthread_cond_wait(&vm->wake_cv, &vm->lock);
    }
    if (!cps_buf_reserve(&vm->out_buf, &vm->out_cap, vm->out_len + CPS_OUT_HEADER + len)) {
        pthread_mutex_unlock(&vm->lock);
        cps_vcpu_fault(c, "out of memory buffering guest output");
        return false;
    }
    uint8_t *p = vm->out_buf + vm->out_len;
    uint64_t index = vm->output_count++;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    vm->out_times[index % CPS_OUT_TIMES].index = index;
    vm->out_times[index % CPS_OUT_TIMES].ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    memcpy(p, &vm->epoch, 8);
    memcpy(p + 8, &index, 8);
    memcpy(p + 16, &len, 4);
    memcpy(p + CPS_OUT_HEADER, rec->data, len);
    vm->out_len += CPS_OUT_HEADER + len;
    pthread_cond_signal(&vm->output_cv); /* no system call unless the host waits */
    pthread_mutex_unlock(&vm->lock);
    return true;
}

/* The length of the next request, waiting for one unless a stun or shutdown is pending (then 0). */
static uint32_t poll_input(struct cps_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    while (vm->in_count == 0 && !vm->paused && !vm->quit) {
        vm->in_waiting = true;
        pthread_cond_wait(&vm->wake_cv, &vm->lock);
    }
    vm->in_waiting = false;
    uint32_t len = vm->in_count == 0 ? 0 : vm->in_lens[vm->in_head];
    pthread_mutex_unlock(&vm->lock);
    return len;
}

static bool fetch_input(struct cps_vcpu *c, uint64_t gpa)
{
    struct cps_vm *vm = c->vm;
    struct cps_record *rec = guest_record(c, gpa, "input");
    if (rec == NULL) {
        return false;
    }
    uint32_t cap = rec->cap;
    if (cap > CPS_RECORD_MAX || cps_guest_ptr(vm, gpa + sizeof(*rec), cap) == NULL) {
        cps_vcpu_fault(c, "input record at 0x%llx has bad capacity %u", (unsigned long long)gpa, cap);
        return false;
    }
    pthread_mutex_lock(&vm->lock);
    uint32_t len = 0;
    if (vm->in_count > 0 && vm->in_lens[vm->in_head] <= cap) {
        len = vm->in_lens[vm->in_head];
        memcpy(rec->data, vm->in_queue[vm->in_head], len);
    }
    if (vm->in_count > 0) {
        /* A request too large for the guest's buffer is dropped rather than wedging the queue. */
        vm->in_head = (vm->in_head + 1) % CPS_INPUT_SLOTS;
        vm->in_count--;
    }
    rec->len = len;
    pthread_mutex_unlock(&vm->lock);
    cps_dirty_mark(vm, gpa, sizeof(*rec) + len);
    return true;
}

static void console_write(struct cps_vm *vm, const uint8_t *data, uint32_t n)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->con_len + n <= CPS_CONSOLE_CAP && cps_buf_reserve(&vm->con_buf, &vm->con_cap, vm->con_len + n)) {
        memcpy(vm->con_buf + vm->con_len, data, n);
        vm->con_len += n;
    }
    pthread_mutex_unlock(&vm->lock);
}

/* The input fetch from the replayed log: the record the primary's VMM wrote at this access, written again. */
static bool replay_fetch(struct cps_vcpu *c, uint64_t gpa, const struct cps_rr_event *ev)
{
    struct cps_record *rec = guest_record(c, gpa, "input");
    if (rec == NULL) {
        return false;
    }
    uint32_t cap = rec->cap;
    if (cap > CPS_RECORD_MAX || cps_guest_ptr(c->vm, gpa + sizeof(*rec), cap) == NULL || ev->len > cap) {
        cps_vcpu_fault(c, "replay diverged: input record at 0x%llx has capacity %u for a logged request of %u bytes",
                       (unsigned long long)gpa, cap, ev->len);
        return false;
    }
    memcpy(rec->data, ev->data, ev->len);
    rec->len = ev->len;
    cps_dirty_mark(c->vm, gpa, sizeof(*rec) + ev->len);
    return true;
}

/*
 * One port access. Each passes replay.c's gate first (a replay feeds logged inputs and checks the guest makes
 * the same accesses) and is counted after (a recording logs the input it got).
 */
bool cps_io_exit(struct cps_vcpu *c)
{
    struct kvm_run *run = c->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool out = run->io.direction == KVM_EXIT_IO_OUT;
    uint16_t port = run->io.port;
    struct cps_rr_event ev;
    if (port == CPS_PORT_CONSOLE && out && run->io.size == 1) {
        if (cps_rr_gate(c, port, 0, &ev) < 0) {
            return false;
        }
        console_write(c->vm, data, run->io.count);
        return cps_rr_done(c, port, 0, 0, NULL, 0);
    }
    if (run->io.size != 4 || run->io.count != 1) {
        cps_vcpu_fault(c, "unexpected %s of %u x %u bytes on port 0x%x", out ? "out" : "in", run->io.count,
                       run->io.size, port);
        return false;
    }
    uint32_t value;
    memcpy(&value, data, 4);
    int replayed;
    switch (port) {
    case CPS_PORT_OUTPUT:
        if (out) {
            if (cps_rr_gate(c, port, 0, &ev) < 0 || !emit_output(c, value)) {
                return false;
            }
            return cps_rr_done(c, port, 0, 0, NULL, 0);
        }
        break;
    case CPS_PORT_INPUT_POLL:
        if (!out) {
            if ((replayed = cps_rr_gate(c, port, CPS_RR_KIND_VALUE, &ev)) < 0) {
                return false;
            }
            value = replayed ? ev.value : poll_input(c->vm);
            memcpy(data, &value, 4); /* KVM stores it into the guest's register on the next KVM_RUN */
            return cps_rr_done(c, port, CPS_RR_KIND_VALUE, value, NULL, 0);
        }
        break;
    case CPS_PORT_INPUT_FETCH:
        if (out) {
            if ((replayed = cps_rr_gate(c, port, CPS_RR_KIND_RECORD, &ev)) < 0) {
                return false;
            }
            if (!(replayed ? replay_fetch(c, value, &ev) : fetch_input(c, value))) {
                return false;
            }
            struct cps_record *rec = cps_guest_ptr(c->vm, value, sizeof(struct cps_record));
            return cps_rr_done(c, port, CPS_RR_KIND_RECORD, 0, rec->data, rec->len);
        }
        break;
    case CPS_PORT_PANIC:
        if (out) {
            cps_vcpu_fault(c, "guest panicked with code %u", value);
            return false;
        }
        break;
    default:
        break;
    }
    cps_vcpu_fault(c, "unexpected %s on port 0x%x", out ? "out" : "in", port);
    return false;
}

bool cps_io_halt(struct cps_vcpu *c)
{
    /* Without an in-kernel interrupt controller nothing can wake a halted vCPU but us: sleep until a stun. */
    struct cps_vm *vm = c->vm;
    pthread_mutex_lock(&vm->lock);
    while (!vm->paused && !vm->quit) {
        pthread_cond_wait(&vm->wake_cv, &vm->lock);
    }
    pthread_mutex_unlock(&vm->lock);
    return true;
}

int cps_vm_input(struct cps_vm *vm, const void *data, uint32_t len, char *err, size_t errlen)
{
    if (len == 0 || len > CPS_RECORD_MAX) {
        return cps_fail(err, errlen, "input request must be 1..%u bytes, not %u", CPS_RECORD_MAX, len);
    }
    pthread_mutex_lock(&vm->lock);
    if (vm->in_queue == NULL) {
        vm->in_queue = calloc(CPS_INPUT_SLOTS, CPS_RECORD_MAX);
        if (vm->in_queue == NULL) {
            pthread_mutex_unlock(&vm->lock);
            return cps_fail(err, errlen, "out of memory for the input queue");
        }
    }
    if (vm->in_count == CPS_INPUT_SLOTS) {
        pthread_mutex_unlock(&vm->lock);
        return 0;
    }
    uint32_t slot = (vm->in_head + vm->in_count) % CPS_INPUT_SLOTS;
    memcpy(vm->in_queue[slot], data, len);
    vm->in_lens[slot] = len;
    vm->in_count++;
    pthread_cond_broadcast(&vm->wake_cv);
    pthread_mutex_unlock(&vm->lock);
    return 1;
}

uint64_t cps_vm_await_output(struct cps_vm *vm, uint64_t seen, uint64_t timeout_ns)
{
    struct timespec deadline = cps_deadline(CLOCK_MONOTONIC, timeout_ns); /* output_cv's clock */
    pthread_mutex_lock(&vm->lock);
    int rc = 0;
    while (vm->output_count == seen && !vm->output_wake && !vm->quit && rc == 0) {
        rc = pthread_cond_timedwait(&vm->output_cv, &vm->lock, &deadline);
    }
    vm->output_wake = false;
    uint64_t count = vm->output_count;
    pthread_mutex_unlock(&vm->lock);
    return count;
}

void cps_vm_wake_output_waiter(struct cps_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->output_wake = true;
    pthread_cond_signal(&vm->output_cv);
    pthread_mutex_unlock(&vm->lock);
}

uint64_t cps_vm_drain_output(struct cps_vm *vm, void *buf, uint64_t cap)
{
    pthread_mutex_lock(&vm->lock);
    size_t used = cps_records_take(vm->out_buf, &vm->out_len, buf, cap);
    pthread_cond_broadcast(&vm->wake_cv);
    pthread_mutex_unlock(&vm->lock);
    return used;
}

uint64_t cps_vm_output_time(struct cps_vm *vm, uint64_t index)
{
    pthread_mutex_lock(&vm->lock);
    uint64_t ns = 0;
    /* Slot 0 starts as index 0 at time 0: that reads as unknown too. */
    if (vm->out_times[index % CPS_OUT_TIMES].index == index) {
        ns = vm->out_times[index % CPS_OUT_TIMES].ns;
    }
    pthread_mutex_unlock(&vm->lock);
    return ns;
}

int cps_io_check_pending(const uint8_t *records, size_t len, char *err, size_t errlen)
{
    for (size_t off = 0; off < len;) {
        uint32_t rlen;
        if (len - off < CPS_RECORD_HEADER) {
            return cps_fail(err, errlen, "device state's pending output is truncated");
        }
        memcpy(&rlen, records + off + 16, 4);
        if (rlen > CPS_RECORD_MAX || len - off - CPS_RECORD_HEADER < rlen) {
            return cps_fail(err, errlen, "device state's pending output has a bad record length %u", rlen);
        }
        off += CPS_RECORD_HEADER + rlen;
    }
    return 0;
}

int cps_io_restore_pending(struct cps_vm *vm, const uint8_t *records, size_t len)
{
    if (len == 0) {
        return 0;
    }
    if (!cps_buf_reserve(&vm->out_buf, &vm->out_cap, vm->out_len + len)) {
        return -1;
    }
    memmove(vm->out_buf + len, vm->out_buf, vm->out_len);
    memcpy(vm->out_buf, records, len);
    vm->out_len += len;
    return 0;
}

uint64_t cps_vm_drain_console(struct cps_vm *vm, void *buf, uint64_t cap)
{
    pthread_mutex_lock(&vm->lock);
    size_t n = vm->con_len < cap ? vm->con_len : cap;
    if (n > 0) {
        memcpy(buf, vm->con_buf, n);
        memmove(vm->con_buf, vm->con_buf + n, vm->con_len - n);
        vm->con_len -= n;
    }
    pthread_mutex_unlock(&vm->lock);
    return n;
}
