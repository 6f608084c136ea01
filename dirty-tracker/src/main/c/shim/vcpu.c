/*
 * vCPU threads and the stun. Each vCPU runs KVM_RUN on its own pthread. A stun sets
 * kvm_run->immediate_exit on every vCPU and kicks its thread with a signal whose handler does
 * nothing: the signal interrupts a KVM_RUN in progress, immediate_exit catches a thread that was
 * just about to enter it. A vCPU parks only after a KVM_RUN that returned EINTR, because KVM finishes
 * an I/O exit (e.g. stores the value of an IN) on the next KVM_RUN: parking earlier would capture
 * state with an instruction half done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "internal.h"

/* A real-time signal: the JVM claims SIGUSR2 and applications often use SIGUSR1. */
#define CPS_KICK_SIGNAL (SIGRTMIN + 6)
/* A stun that takes longer than this means a vCPU thread is stuck: report it rather than hang. */
#define CPS_STUN_TIMEOUT_S 10

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;
static int kick_install_errno;

static void kick_handler(int sig)
{
    (void)sig; /* its only purpose is to make KVM_RUN return EINTR */
}

static void install_kick_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: KVM_RUN must come back to us */
    if (sigaction(CPS_KICK_SIGNAL, &sa, NULL) != 0) {
        kick_install_errno = errno;
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Records the vCPU's fatal error (the first one wins) and wakes anyone waiting for it. */
void cps_vcpu_fault(struct cps_vcpu *c, const char *fmt, ...)
{
    struct cps_vm *vm = c->vm;
    pthread_mutex_lock(&vm->lock);
    if (vm->fault[0] == '\0') {
        int n = snprintf(vm->fault, sizeof(vm->fault), "vCPU %u: ", c->id);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vm->fault + n, sizeof(vm->fault) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&vm->lock);
}

/* Parks while paused. Returns false when the thread must exit. Called with no exit pending. */
static bool wait_until_running(struct cps_vcpu *c)
{
    struct cps_vm *vm = c->vm;
    pthread_mutex_lock(&vm->lock);
    while (vm->paused && !vm->quit) {
        if (!c->parked) {
            c->parked = true;
            vm->nparked++;
            pthread_cond_broadcast(&vm->parked_cv);
        }
        pthread_cond_wait(&vm->run_cv, &vm->lock);
    }
    if (c->parked) {
        c->parked = false;
        vm->nparked--;
    }
    bool go = !vm->quit;
    pthread_mutex_unlock(&vm->lock);
    return go;
}

/* Handles one exit; false when the vCPU cannot go on. */
static bool handle_exit(struct cps_vcpu *c)
{
    struct kvm_run *run = c->run;
    char err[CPS_ERR_MAX];
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        return cps_io_exit(c);
    case KVM_EXIT_HLT:
        return cps_io_halt(c);
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_DIRTY_RING_FULL:
        if (cps_dirty_ring_full(c, err, sizeof(err)) != 0) {
            cps_vcpu_fault(c, "%s", err);
            return false;
        }
        return true;
    case KVM_EXIT_SHUTDOWN: {
        struct kvm_regs regs;
        unsigned long long rip = ioctl(c->fd, KVM_GET_REGS, &regs) == 0 ? regs.rip : 0;
        cps_vcpu_fault(c, "guest shut down (triple fault), last rip 0x%llx", rip);
        return false;
    }
    case KVM_EXIT_FAIL_ENTRY:
        cps_vcpu_fault(c, "KVM could not enter the guest (hardware reason 0x%llx)",
                       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        cps_vcpu_fault(c, "KVM internal error, suberror %u", run->internal.suberror);
        return false;
    case KVM_EXIT_MMIO:
        cps_vcpu_fault(c, "guest accessed unbacked address 0x%llx (%s)", (unsigned long long)run->mmio.phys_addr,
                       run->mmio.is_write ? "write" : "read");
        return false;
    default:
        cps_vcpu_fault(c, "unexpected KVM exit reason %u", run->exit_reason);
        return false;
    }
}

static void *vcpu_main(void *arg)
{
    struct cps_vcpu *c = arg;
    struct cps_vm *vm = c->vm;
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, CPS_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &kick, NULL); /* the creating (JVM) thread may have it blocked */

    bool settled = true; /* no exit is waiting for KVM_RUN to complete it */
    /* Emulated: an I/O access completes inside its hook, so the vCPU is always settled between runs. */
    while (vm->backend == CPS_BACKEND_EMU) {
        if (!wait_until_running(c) || !cps_emu_run(c)) {
            goto stopped;
        }
    }
    for (;;) {
        if (settled && !wait_until_running(c)) {
            break;
        }
        if (ioctl(c->fd, KVM_RUN, 0) != 0) {
            if (errno == EINTR || errno == EAGAIN) {
                settled = true;
                continue;
            }
            cps_vcpu_fault(c, "KVM_RUN failed: %s", strerror(errno));
            break;
        }
        settled = false;
        if (!handle_exit(c)) {
            break;
        }
    }
stopped:
    /* A dead vCPU counts as stopped so stuns still work and report the fault. */
    pthread_mutex_lock(&vm->lock);
    if (!c->parked) {
        c->parked = true;
        vm->nparked++;
    }
    pthread_cond_broadcast(&vm->parked_cv);
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

int cps_vcpu_start_threads(struct cps_vm *vm, char *err, size_t errlen)
{
    pthread_once(&kick_once, install_kick_handler);
    if (kick_install_errno != 0) {
        errno = kick_install_errno;
        return cps_fail_errno(err, errlen, "installing the vCPU kick signal handler failed");
    }
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        struct cps_vcpu *c = &vm->vcpus[i];
        int rc = pthread_create(&c->thread, NULL, vcpu_main, c);
        if (rc != 0) {
            errno = rc;
            return cps_fail_errno(err, errlen, "creating the thread of vCPU %u failed", i);
        }
        c->thread_started = true;
        char name[16];
        snprintf(name, sizeof(name), "cps-vcpu-%u", i);
        pthread_setname_np(c->thread, name);
    }
    /* Return only once every thread has parked, so the caller may set up vCPU state right away. */
    pthread_mutex_lock(&vm->lock);
    while (vm->nparked < vm->nvcpus) {
        pthread_cond_wait(&vm->parked_cv, &vm->lock);
    }
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

static void kick_all(struct cps_vm *vm)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        struct cps_vcpu *c = &vm->vcpus[i];
        if (c->run != NULL) {
            __atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        }
    }
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        struct cps_vcpu *c = &vm->vcpus[i];
        if (c->thread_started) {
            pthread_kill(c->thread, CPS_KICK_SIGNAL);
        }
    }
    pthread_cond_broadcast(&vm->wake_cv);
}

void cps_vcpu_stop_threads(struct cps_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->quit = true;
    pthread_cond_broadcast(&vm->run_cv);
    pthread_cond_broadcast(&vm->output_cv);
    kick_all(vm);
    pthread_mutex_unlock(&vm->lock);
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        struct cps_vcpu *c = &vm->vcpus[i];
        if (c->thread_started) {
            pthread_join(c->thread, NULL);
            c->thread_started = false;
        }
    }
}

int cps_vm_stun(struct cps_vm *vm, uint64_t *stop_ns, uint64_t *sealed_epoch, uint64_t *output_count,
                char *err, size_t errlen)
{
    uint64_t begin = now_ns();
    pthread_mutex_lock(&vm->lock);
    if (vm->paused) {
        pthread_mutex_unlock(&vm->lock);
        return cps_fail(err, errlen, "the guest is already stunned");
    }
    vm->paused = true;
    kick_all(vm);
    struct timespec deadline = cps_deadline(CLOCK_REALTIME, CPS_STUN_TIMEOUT_S * 1000000000ull); /* parked_cv's */
    int rc = 0;
    while (vm->nparked < vm->nvcpus && rc == 0) {
        rc = pthread_cond_timedwait(&vm->parked_cv, &vm->lock, &deadline);
    }
    uint64_t end = now_ns();
    if (vm->nparked < vm->nvcpus) {
        uint32_t parked = vm->nparked;
        pthread_mutex_unlock(&vm->lock);
        return cps_fail(err, errlen, "only %u of %u vCPUs stopped within %d s", parked, vm->nvcpus,
                        CPS_STUN_TIMEOUT_S);
    }
    *stop_ns = end - begin;
    *sealed_epoch = vm->epoch;
    *output_count = vm->output_count;
    vm->epoch++;
    int status = vm->fault[0] != '\0' ? cps_fail(err, errlen, "%s", vm->fault) : 0;
    pthread_mutex_unlock(&vm->lock);
    return status;
}

int cps_vm_resume(struct cps_vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->fault[0] != '\0') {
        int rc = cps_fail(err, errlen, "cannot resume: %s", vm->fault);
        pthread_mutex_unlock(&vm->lock);
        return rc;
    }
    if (!vm->paused) {
        pthread_mutex_unlock(&vm->lock);
        return cps_fail(err, errlen, "the guest is already running");
    }
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        __atomic_store_n(&vm->vcpus[i].run->immediate_exit, 0, __ATOMIC_SEQ_CST);
    }
    vm->paused = false;
    pthread_cond_broadcast(&vm->run_cv);
    pthread_cond_broadcast(&vm->wake_cv); /* a replay waiting at its end inside an access counts as parked */
    pthread_mutex_unlock(&vm->lock);
    return 0;
}
