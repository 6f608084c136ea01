/* VM lifecycle: /dev/kvm, memfd-backed guest RAM with dirty logging, vCPU creation, teardown. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Far above any RAM this shim maps (1 GiB max); Intel hosts need the TSS range set even for long mode. */
#define CPS_TSS_ADDR 0xfffbd000u

static struct cps_vm *alloc_vm(uint64_t mem_bytes, uint32_t vcpus, uint32_t dirty_mode, uint32_t ring_entries,
                               char *err, size_t errlen);

void *cps_guest_ptr(struct cps_vm *vm, uint64_t gpa, uint64_t len)
{
    if (gpa > vm->mem_bytes || len > vm->mem_bytes - gpa) {
        return NULL;
    }
    return vm->mem + gpa;
}

void *cps_vm_memory(struct cps_vm *vm)
{
    return vm->mem;
}

int cps_vm_write(struct cps_vm *vm, uint64_t gpa, const void *src, uint64_t len, char *err, size_t errlen)
{
    void *dst = cps_guest_ptr(vm, gpa, len);
    if (dst == NULL) {
        return cps_fail(err, errlen, "write of %llu bytes at guest address 0x%llx is outside guest RAM (%llu bytes)",
                        (unsigned long long)len, (unsigned long long)gpa, (unsigned long long)vm->mem_bytes);
    }
    memcpy(dst, src, len);
    cps_dirty_mark(vm, gpa, len);
    return 0;
}

void cps_vm_mark_all_dirty(struct cps_vm *vm)
{
    cps_dirty_mark(vm, 0, vm->mem_bytes);
}

static int map_memory(struct cps_vm *vm, char *err, size_t errlen)
{
    /* A memfd rather than anonymous memory: it can be handed to another process or mapped twice later. */
    vm->mem_fd = memfd_create("cpstream-guest-ram", MFD_CLOEXEC);
    if (vm->mem_fd < 0) {
        return cps_fail_errno(err, errlen, "memfd_create for guest RAM failed");
    }
    if (ftruncate(vm->mem_fd, (off_t)vm->mem_bytes) != 0) {
        return cps_fail_errno(err, errlen, "sizing guest RAM to %llu bytes failed", (unsigned long long)vm->mem_bytes);
    }
    void *mem = mmap(NULL, vm->mem_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vm->mem_fd, 0);
    if (mem == MAP_FAILED) {
        return cps_fail_errno(err, errlen, "mapping %llu bytes of guest RAM failed", (unsigned long long)vm->mem_bytes);
    }
    vm->mem = mem;
    return 0;
}

static int create_memory(struct cps_vm *vm, char *err, size_t errlen)
{
    if (map_memory(vm, err, errlen) != 0) {
        return -1;
    }
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        /* dirty=pagemap tracks writes in the host page tables instead of KVM's log. */
        .flags = vm->dirty_mode == CPS_DIRTY_PAGEMAP ? 0 : KVM_MEM_LOG_DIRTY_PAGES,
        .guest_phys_addr = 0,
        .memory_size = vm->mem_bytes,
        .userspace_addr = (uint64_t)(uintptr_t)vm->mem,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) != 0) {
        return cps_fail_errno(err, errlen, "KVM_SET_USER_MEMORY_REGION (guest RAM, dirty logging) failed");
    }
    return 0;
}

static int load_cpuid(struct cps_vm *vm, char *err, size_t errlen)
{
    /* Give the guest what the host supports: long mode needs CPUID to advertise LM before EFER.LME sticks. */
    for (uint32_t n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(struct kvm_cpuid_entry2));
        if (cpuid == NULL) {
            return cps_fail(err, errlen, "out of memory for CPUID");
        }
        cpuid->nent = n;
        if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0) {
            vm->cpuid = cpuid;
            return 0;
        }
        int e = errno;
        free(cpuid);
        if (e != E2BIG) {
            errno = e;
            return cps_fail_errno(err, errlen, "KVM_GET_SUPPORTED_CPUID failed");
        }
    }
    return cps_fail(err, errlen, "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

static int create_vcpu(struct cps_vm *vm, uint32_t id, char *err, size_t errlen)
{
    struct cps_vcpu *c = &vm->vcpus[id];
    c->vm = vm;
    c->id = id;
    c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (c->fd < 0) {
        return cps_fail_errno(err, errlen, "KVM_CREATE_VCPU %u failed", id);
    }
    int size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size < (int)sizeof(struct kvm_run)) {
        return cps_fail_errno(err, errlen, "KVM_GET_VCPU_MMAP_SIZE returned %d", size);
    }
    void *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
    if (run == MAP_FAILED) {
        return cps_fail_errno(err, errlen, "mapping kvm_run of vCPU %u failed", id);
    }
    c->run = run;
    c->run_size = (size_t)size;
    if (ioctl(c->fd, KVM_SET_CPUID2, vm->cpuid) != 0) {
        return cps_fail_errno(err, errlen, "KVM_SET_CPUID2 on vCPU %u failed", id);
    }
    return cps_dirty_init_vcpu(c, err, errlen);
}

/* The VM structure with its locks, stopped, with no memory and no vCPU yet. */
static struct cps_vm *alloc_vm(uint64_t mem_bytes, uint32_t vcpus, uint32_t dirty_mode, uint32_t ring_entries,
                               char *err, size_t errlen)
{
    struct cps_vm *vm = calloc(1, sizeof(*vm));
    if (vm == NULL) {
        cps_fail(err, errlen, "out of memory for the VM");
        return NULL;
    }
    vm->kvm_fd = vm->vm_fd = vm->mem_fd = -1;
    vm->uffd = vm->prot_stop_fd = vm->pm_uffd = vm->pm_fd = -1;
    pthread_mutex_init(&vm->prot_lock, NULL);
    for (uint32_t i = 0; i < CPS_MAX_VCPUS; i++) {
        vm->vcpus[i].fd = -1;
    }
    vm->mem_bytes = mem_bytes;
    vm->pages = mem_bytes / CPS_PAGE_SIZE;
    vm->nvcpus = vcpus;
    vm->dirty_mode = dirty_mode;
    vm->ring_entries = ring_entries;
    vm->epoch = 1;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_mutex_init(&vm->dirty_lock, NULL);
    pthread_cond_init(&vm->run_cv, NULL);
    pthread_cond_init(&vm->parked_cv, NULL);
    pthread_cond_init(&vm->wake_cv, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&vm->output_cv, &monotonic);
    pthread_condattr_destroy(&monotonic);
    vm->paused = true;
    return vm;
}

struct timespec cps_deadline(clockid_t clock, uint64_t ns)
{
    struct timespec deadline;
    clock_gettime(clock, &deadline);
    deadline.tv_sec += (time_t)(ns / 1000000000ull);
    deadline.tv_nsec += (long)(ns % 1000000000ull);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

static bool check_mem(uint64_t mem_bytes, char *err, size_t errlen)
{
    if (mem_bytes < CPS_MIN_MEM || mem_bytes > CPS_MAX_MEM || mem_bytes % (2u << 20) != 0) {
        cps_fail(err, errlen, "guest RAM must be a multiple of 2 MiB between %u MiB and %u MiB, not %llu bytes",
                 CPS_MIN_MEM >> 20, CPS_MAX_MEM >> 20, (unsigned long long)mem_bytes);
        return false;
    }
    return true;
}

struct cps_vm *cps_vm_create_emu(uint64_t mem_bytes, char *err, size_t errlen)
{
    if (!check_mem(mem_bytes, err, errlen)) {
        return NULL;
    }
    struct cps_vm *vm = alloc_vm(mem_bytes, 1, CPS_DIRTY_PAGEMAP, 0, err, errlen);
    if (vm == NULL) {
        return NULL;
    }
    vm->backend = CPS_BACKEND_EMU;
    /* The same RAM and dirty tracking as a KVM guest with dirty=pagemap, with no KVM memory slot. */
    if (cps_dirty_init_vm(vm, err, errlen) != 0 || map_memory(vm, err, errlen) != 0
        || cps_pagemap_init(vm, err, errlen) != 0 || cps_emu_init(vm, err, errlen) != 0) {
        goto fail;
    }
    cps_vm_mark_all_dirty(vm);
    if (cps_vcpu_start_threads(vm, err, errlen) != 0) {
        goto fail;
    }
    return vm;

fail:
    cps_vm_destroy(vm);
    return NULL;
}

struct cps_vm *cps_vm_create(uint64_t mem_bytes, uint32_t vcpus, uint32_t dirty_mode, uint32_t ring_entries,
                             char *err, size_t errlen)
{
    if (!check_mem(mem_bytes, err, errlen)) {
        return NULL;
    }
    if (vcpus < 1 || vcpus > CPS_MAX_VCPUS) {
        cps_fail(err, errlen, "vCPU count must be 1..%u, not %u", CPS_MAX_VCPUS, vcpus);
        return NULL;
    }
    if (dirty_mode != CPS_DIRTY_BITMAP && dirty_mode != CPS_DIRTY_RING && dirty_mode != CPS_DIRTY_PAGEMAP) {
        cps_fail(err, errlen, "unknown dirty tracking mode %u", dirty_mode);
        return NULL;
    }
    struct cps_vm *vm = alloc_vm(mem_bytes, vcpus, dirty_mode, ring_entries, err, errlen);
    if (vm == NULL) {
        return NULL;
    }
    vm->backend = CPS_BACKEND_KVM;

    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) {
        cps_fail_errno(err, errlen, "cannot open /dev/kvm");
        goto fail;
    }
    int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        cps_fail(err, errlen, "KVM API version %d, expected %d", api, KVM_API_VERSION);
        goto fail;
    }
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
        cps_fail(err, errlen, "this KVM lacks KVM_CAP_IMMEDIATE_EXIT, needed to stun vCPUs without races");
        goto fail;
    }
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        cps_fail_errno(err, errlen, "KVM_CREATE_VM failed");
        goto fail;
    }
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, CPS_TSS_ADDR) != 0) {
        cps_fail_errno(err, errlen, "KVM_SET_TSS_ADDR failed");
        goto fail;
    }
    /* Dirty tracking mode is chosen on the VM before memory slots (manual protect) and vCPUs (ring) exist. */
    if (cps_dirty_init_vm(vm, err, errlen) != 0 || create_memory(vm, err, errlen) != 0
        || load_cpuid(vm, err, errlen) != 0) {
        goto fail;
    }
    if (vm->dirty_mode == CPS_DIRTY_PAGEMAP && cps_pagemap_init(vm, err, errlen) != 0) {
        goto fail;
    }
    for (uint32_t i = 0; i < vcpus; i++) {
        if (create_vcpu(vm, i, err, errlen) != 0) {
            goto fail;
        }
    }
    if (cps_state_probe(vm, err, errlen) != 0) {
        goto fail;
    }
    /* Before the first harvest every page counts as dirty (the MemorySource contract). */
    cps_vm_mark_all_dirty(vm);
    if (cps_vcpu_start_threads(vm, err, errlen) != 0) {
        goto fail;
    }
    return vm;

fail:
    cps_vm_destroy(vm);
    return NULL;
}

void cps_vm_destroy(struct cps_vm *vm)
{
    if (vm == NULL) {
        return;
    }
    cps_vcpu_stop_threads(vm);
    /* After the vCPUs (one may wait on a write-protect fault only the fault thread resolves), before RAM goes. */
    cps_protect_free(vm);
    cps_pagemap_free(vm);
    cps_emu_free(vm); /* frees the emulated vCPU's kvm_run, which is no mapping */
    for (uint32_t i = 0; i < CPS_MAX_VCPUS; i++) {
        struct cps_vcpu *c = &vm->vcpus[i];
        if (c->ring != NULL) {
            munmap(c->ring, (size_t)vm->ring_entries * sizeof(struct kvm_dirty_gfn));
        }
        if (c->run != NULL) {
            munmap(c->run, c->run_size);
        }
        if (c->fd >= 0) {
            close(c->fd);
        }
    }
    if (vm->mem != NULL) {
        munmap(vm->mem, vm->mem_bytes);
    }
    if (vm->mem_fd >= 0) {
        close(vm->mem_fd);
    }
    if (vm->vm_fd >= 0) {
        close(vm->vm_fd);
    }
    if (vm->kvm_fd >= 0) {
        close(vm->kvm_fd);
    }
    cps_dirty_free(vm);
    cps_io_free(vm);
    free(vm->msrs);
    free(vm->cpuid);
    pthread_mutex_destroy(&vm->lock);
    pthread_mutex_destroy(&vm->dirty_lock);
    pthread_cond_destroy(&vm->run_cv);
    pthread_cond_destroy(&vm->parked_cv);
    pthread_cond_destroy(&vm->wake_cv);
    pthread_cond_destroy(&vm->output_cv);
    free(vm);
}

int cps_vm_check(struct cps_vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    int rc = vm->fault[0] != '\0' ? cps_fail(err, errlen, "%s", vm->fault) : 0;
    pthread_mutex_unlock(&vm->lock);
    return rc;
}
