/*
 * Record and replay of the guest's non-deterministic inputs (emulated backend).
 *
 * A single-vCPU guest under the emulator is deterministic between two port accesses: nothing but a port
 * access lets anything from outside into it (no interrupts, no timers; Unicorn 2.0.1 cannot hook RDTSC, so
 * the guests must not read the TSC). So the port-access ordinal (port accesses since boot, carried in the
 * device state) positions every input exactly, without an instruction counter.
 *
 * Recording appends one event per access whose result came from outside: the value an IN returned (the input
 * poll), and the record the VMM wrote into guest memory (the input fetch). Replaying feeds those results back
 * at the same ordinals instead of asking the live channels, checks that the guest makes the same accesses
 * (a different port or kind at a logged ordinal is a divergence, and stops the guest with a fault), and at
 * the log's end either waits inside access `end` (analysis: memory as just before it) or goes on live.
 *
 * Event encoding, little-endian, as drained and as loaded (EventLog.java wraps it in a file format):
 *   u64 ordinal, u16 port, u8 kind (1 IN value, 2 input record), u8 zero, u32 value, u32 len, len bytes
 * Every access runs through cps_rr_gate (before) and cps_rr_done (after); ordinal and event change together
 * under vm->lock, so a drain that reads the ordinal C has every event below C.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define EV_HEADER CPS_RECORD_HEADER /* u64 ordinal, u16 port, u8 kind, u8 0, u32 value, u32 len */
#define EV_BUF_CAP (64u << 20) /* recorded events nobody drained: beyond this the guest faults rather than lose one */

void cps_rr_free(struct cps_vm *vm)
{
    free(vm->ev_buf);
    free(vm->rp_buf);
    vm->ev_buf = vm->rp_buf = NULL;
    vm->ev_len = vm->ev_cap = vm->rp_len = vm->rp_cap = vm->rp_pos = 0;
}

static uint64_t ev_ordinal(const uint8_t *p)
{
    uint64_t o;
    memcpy(&o, p, 8);
    return o;
}

int cps_rr_gate(struct cps_vcpu *c, uint16_t port, uint8_t kind, struct cps_rr_event *ev)
{
    struct cps_vm *vm = c->vm;
    pthread_mutex_lock(&vm->lock);
    while (vm->rr_mode == CPS_RR_REPLAY && vm->port_ordinal >= vm->rp_end) {
        if (vm->rp_then != CPS_RR_REPLAY) {
            /* The log is consumed: from this access on the guest runs on live input (recorded if asked). */
            vm->rr_mode = vm->rp_then;
            vm->rp_len = vm->rp_pos = 0;
            break;
        }
        /*
         * A replay that waits at its end waits here, inside access `end`, before it has any effect: guest memory is
         * exactly what it is just before that access (every instruction before it ran), as on a primary blocked in
         * the same access. The wait counts as parked for a stun (memory can be harvested and copied), but there is
         * no device state here: the registers are mid-instruction. (Unicorn 2.0.1 cannot rewind an instruction from
         * its I/O hook, nor stop right after one: a stop takes effect at the end of the translation block.)
         */
        vm->rp_at_end = true;
        vm->rp_in_access = true;
        if (vm->paused && !c->parked) {
            c->parked = true;
            vm->nparked++;
        }
        pthread_cond_broadcast(&vm->parked_cv);
        if (vm->quit) {
            pthread_mutex_unlock(&vm->lock);
            return -1;
        }
        pthread_cond_wait(&vm->wake_cv, &vm->lock);
        if (!vm->paused && c->parked) {
            c->parked = false;
            vm->nparked--;
        }
    }
    vm->rp_in_access = false;
    vm->rp_at_end = false;
    if (vm->rr_mode != CPS_RR_REPLAY) {
        pthread_mutex_unlock(&vm->lock);
        return 0;
    }
    uint64_t ordinal = vm->port_ordinal;
    bool logged = vm->rp_pos < vm->rp_len && ev_ordinal(vm->rp_buf + vm->rp_pos) == ordinal;
    if (kind == 0 && !logged) {
        pthread_mutex_unlock(&vm->lock);
        return 1; /* an output or console access: nothing to feed, the guest produces it itself */
    }
    uint16_t lport = 0;
    uint8_t lkind = 0;
    if (logged) {
        memcpy(&lport, vm->rp_buf + vm->rp_pos + 8, 2);
        lkind = vm->rp_buf[vm->rp_pos + 10];
    }
    if (!logged || lport != port || lkind != kind) {
        pthread_mutex_unlock(&vm->lock);
        if (logged) {
            cps_vcpu_fault(c, "replay diverged at port access %llu: the guest accessed port 0x%x (kind %u), the log "
                           "has port 0x%x (kind %u)", (unsigned long long)ordinal, port, kind, lport, lkind);
        } else {
            cps_vcpu_fault(c, "replay diverged at port access %llu: the guest reads port 0x%x, the log has no input "
                           "there", (unsigned long long)ordinal, port);
        }
        return -1;
    }
    const uint8_t *p = vm->rp_buf + vm->rp_pos;
    memcpy(&ev->value, p + 12, 4);
    memcpy(&ev->len, p + 16, 4);
    memcpy(ev->data, p + EV_HEADER, ev->len);
    vm->rp_pos += EV_HEADER + ev->len;
    pthread_mutex_unlock(&vm->lock);
    return 1;
}

bool cps_rr_done(struct cps_vcpu *c, uint16_t port, uint8_t kind, uint32_t value, const void *data, uint32_t len)
{
    struct cps_vm *vm = c->vm;
    pthread_mutex_lock(&vm->lock);
    uint64_t ordinal = vm->port_ordinal++;
    /* A replay that goes on recording logs the replayed inputs too: its log holds every input the guest saw. */
    bool recording = vm->rr_mode == CPS_RR_RECORD || (vm->rr_mode == CPS_RR_REPLAY && vm->rp_then == CPS_RR_RECORD);
    if (!recording || kind == 0) {
        pthread_mutex_unlock(&vm->lock);
        return true;
    }
    if (vm->ev_len + EV_HEADER + len > EV_BUF_CAP || !cps_buf_reserve(&vm->ev_buf, &vm->ev_cap, vm->ev_len + EV_HEADER + len)) {
        pthread_mutex_unlock(&vm->lock);
        cps_vcpu_fault(c, "the event log holds %zu undrained bytes: the recorder stopped taking them", vm->ev_len);
        return false;
    }
    uint8_t *p = vm->ev_buf + vm->ev_len;
    memcpy(p, &ordinal, 8);
    memcpy(p + 8, &port, 2);
    p[10] = kind;
    p[11] = 0;
    memcpy(p + 12, &value, 4);
    memcpy(p + 16, &len, 4);
    if (len > 0) {
        memcpy(p + EV_HEADER, data, len);
    }
    vm->ev_len += EV_HEADER + len;
    pthread_mutex_unlock(&vm->lock);
    return true;
}

bool cps_rr_state_exact(struct cps_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    bool exact = !vm->rp_in_access;
    pthread_mutex_unlock(&vm->lock);
    return exact;
}

int cps_vm_record(struct cps_vm *vm, int on, char *err, size_t errlen)
{
    if (vm->backend != CPS_BACKEND_EMU) {
        return cps_fail(err, errlen, "record/replay needs the emulated backend (emu): a KVM guest has inputs "
                        "(TSC, interrupts) the port hooks do not see");
    }
    pthread_mutex_lock(&vm->lock);
    int rc = 0;
    if (vm->rr_mode == CPS_RR_REPLAY && vm->rp_then == CPS_RR_REPLAY) {
        rc = cps_fail(err, errlen, "the guest replays a log and waits at its end; it records nothing");
    } else if (vm->rr_mode == CPS_RR_REPLAY) {
        vm->rp_then = on ? CPS_RR_RECORD : CPS_RR_OFF; /* logs the replayed inputs too, and goes on recording */
    } else {
        vm->rr_mode = on ? CPS_RR_RECORD : CPS_RR_OFF;
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

uint64_t cps_vm_drain_events(struct cps_vm *vm, void *buf, uint64_t cap, uint64_t *covered)
{
    pthread_mutex_lock(&vm->lock);
    size_t used = cps_records_take(vm->ev_buf, &vm->ev_len, buf, cap);
    /* Everything below the first event left behind (or below the ordinal, if none is) is in buf. */
    *covered = vm->ev_len > 0 ? ev_ordinal(vm->ev_buf) : vm->port_ordinal;
    pthread_mutex_unlock(&vm->lock);
    return used;
}

/* Checks a sequence of events: whole records, known kinds on their ports, ordinals ascending in [from, end). */
static int check_events(const uint8_t *p, uint64_t len, uint64_t from, uint64_t end, char *err, size_t errlen)
{
    uint64_t off = 0, next = from;
    while (off < len) {
        if (len - off < EV_HEADER) {
            return cps_fail(err, errlen, "event log: a truncated event at byte %llu", (unsigned long long)off);
        }
        uint64_t ordinal = ev_ordinal(p + off);
        uint16_t port;
        uint32_t n;
        memcpy(&port, p + off + 8, 2);
        memcpy(&n, p + off + 16, 4);
        uint8_t kind = p[off + 10];
        if (ordinal < next || ordinal >= end) {
            return cps_fail(err, errlen, "event log: event at port access %llu is out of order or outside [%llu, %llu)",
                            (unsigned long long)ordinal, (unsigned long long)next, (unsigned long long)end);
        }
        if (!((kind == CPS_RR_KIND_VALUE && port == CPS_PORT_INPUT_POLL && n == 0)
              || (kind == CPS_RR_KIND_RECORD && port == CPS_PORT_INPUT_FETCH && n <= CPS_RECORD_MAX))
            || p[off + 11] != 0) {
            return cps_fail(err, errlen, "event log: event at port access %llu has port 0x%x, kind %u, %u bytes: "
                            "not an input this guest ABI has", (unsigned long long)ordinal, port, kind, n);
        }
        if (len - off - EV_HEADER < n) {
            return cps_fail(err, errlen, "event log: event at port access %llu is truncated", (unsigned long long)ordinal);
        }
        next = ordinal + 1;
        off += EV_HEADER + n;
    }
    return 0;
}

int cps_vm_replay(struct cps_vm *vm, const void *events, uint64_t len, uint64_t end, uint32_t then, char *err,
                  size_t errlen)
{
    if (vm->backend != CPS_BACKEND_EMU) {
        return cps_fail(err, errlen, "record/replay needs the emulated backend (emu)");
    }
    if (then != CPS_RR_OFF && then != CPS_RR_RECORD && then != CPS_RR_REPLAY) {
        return cps_fail(err, errlen, "unknown mode %u after the replay", then);
    }
    pthread_mutex_lock(&vm->lock);
    int rc = 0;
    bool running = !vm->paused || vm->rr_mode != CPS_RR_OFF;
    if (running) {
        rc = cps_fail(err, errlen, "a replay starts on a guest that is not running, recording or replaying");
    } else if (end < vm->port_ordinal) {
        rc = cps_fail(err, errlen, "the log ends at port access %llu, before the guest's %llu",
                      (unsigned long long)end, (unsigned long long)vm->port_ordinal);
    } else if ((rc = check_events(events, len, vm->port_ordinal, end, err, errlen)) == 0) {
        if (!cps_buf_reserve(&vm->rp_buf, &vm->rp_cap, len > 0 ? len : 1)) {
            rc = cps_fail(err, errlen, "out of memory for %llu bytes of events", (unsigned long long)len);
        } else {
            memcpy(vm->rp_buf, events, len);
            vm->rp_len = len;
            vm->rp_pos = 0;
            vm->rp_end = end;
            vm->rp_then = then;
            vm->rr_mode = CPS_RR_REPLAY;
        }
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

int cps_vm_replay_extend(struct cps_vm *vm, const void *events, uint64_t len, uint64_t end, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    int rc = 0;
    if (vm->rr_mode != CPS_RR_REPLAY) {
        rc = cps_fail(err, errlen, "the guest is not replaying");
    } else if (end < vm->rp_end) {
        rc = cps_fail(err, errlen, "the log cannot shrink from %llu to %llu", (unsigned long long)vm->rp_end,
                      (unsigned long long)end);
    } else if ((rc = check_events(events, len, vm->rp_end, end, err, errlen)) == 0) {
        /* Drop what was consumed, then append. */
        memmove(vm->rp_buf, vm->rp_buf + vm->rp_pos, vm->rp_len - vm->rp_pos);
        vm->rp_len -= vm->rp_pos;
        vm->rp_pos = 0;
        if (!cps_buf_reserve(&vm->rp_buf, &vm->rp_cap, vm->rp_len + len + 1)) {
            rc = cps_fail(err, errlen, "out of memory for %llu bytes of events", (unsigned long long)len);
        } else {
            memcpy(vm->rp_buf + vm->rp_len, events, len);
            vm->rp_len += len;
            vm->rp_end = end;
            pthread_cond_broadcast(&vm->wake_cv);
        }
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

void cps_vm_rr_status(struct cps_vm *vm, uint64_t *out)
{
    pthread_mutex_lock(&vm->lock);
    out[0] = vm->port_ordinal;
    out[1] = vm->rr_mode;
    out[2] = vm->rp_at_end;
    out[3] = vm->rr_mode == CPS_RR_REPLAY ? vm->rp_end : 0;
    out[4] = vm->ev_len;
    out[5] = vm->in_waiting;
    pthread_mutex_unlock(&vm->lock);
}

int cps_vm_wait_replay_end(struct cps_vm *vm, uint64_t timeout_ms, char *err, size_t errlen)
{
    struct timespec deadline = cps_deadline(CLOCK_REALTIME, timeout_ms * 1000000ull); /* parked_cv's clock */
    pthread_mutex_lock(&vm->lock);
    int rc = 0;
    while (!vm->rp_at_end && vm->fault[0] == '\0' && vm->rr_mode == CPS_RR_REPLAY && rc == 0) {
        rc = pthread_cond_timedwait(&vm->parked_cv, &vm->lock, &deadline);
    }
    int status;
    if (vm->fault[0] != '\0') {
        status = cps_fail(err, errlen, "%s", vm->fault);
    } else if (vm->rp_at_end) {
        status = 0;
    } else if (vm->rr_mode != CPS_RR_REPLAY) {
        status = cps_fail(err, errlen, "the guest is not replaying (it went live at the log's end)");
    } else {
        status = cps_fail(err, errlen, "the replay did not reach port access %llu within %llu ms (it is at %llu)",
                          (unsigned long long)vm->rp_end, (unsigned long long)timeout_ms,
                          (unsigned long long)vm->port_ordinal);
    }
    pthread_mutex_unlock(&vm->lock);
    return status;
}
