/*
 * Dirty page tracking, two ways:
 *  - bitmap: KVM_GET_DIRTY_LOG with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, so fetching the log and
 *    re-protecting pages (KVM_CLEAR_DIRTY_LOG) are separate steps, both done inside the stun;
 *  - ring: each vCPU pushes the pages it dirties into its own mmap'ed ring; the VMM collects entries
 *    and hands them back with KVM_RESET_DIRTY_RINGS (on a stun, or when a ring fills up mid-epoch).
 * Pages the VMM writes itself never reach KVM's log, so they are kept in vmm_dirty and merged in.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

int cps_dirty_init_vm(struct cps_vm *vm, char *err, size_t errlen)
{
    vm->bitmap_words = (vm->pages + 63) / 64;
    vm->vmm_dirty = calloc(vm->bitmap_words, sizeof(uint64_t));
    vm->scratch = calloc(vm->bitmap_words, sizeof(uint64_t));
    vm->ring_dirty = calloc(vm->bitmap_words, sizeof(uint64_t));
    if (vm->vmm_dirty == NULL || vm->scratch == NULL || vm->ring_dirty == NULL) {
        return cps_fail(err, errlen, "out of memory for dirty bitmaps");
    }
    if (vm->dirty_mode == CPS_DIRTY_BITMAP) {
        int caps = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
        if (caps <= 0 || !(caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
            return cps_fail(err, errlen, "dirty=bitmap needs KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, which this KVM lacks");
        }
        struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 };
        cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
        /* Initially-set skips write-protecting all of RAM up front; the first harvest reports everything anyway. */
        if (caps & KVM_DIRTY_LOG_INITIALLY_SET) {
            cap.args[0] |= KVM_DIRTY_LOG_INITIALLY_SET;
        }
        if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) != 0) {
            return cps_fail_errno(err, errlen, "enabling KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 failed");
        }
        return 0;
    }
    if (vm->dirty_mode == CPS_DIRTY_PAGEMAP) {
        return 0; /* set up by cps_pagemap_init once guest RAM is mapped */
    }

    uint32_t n = vm->ring_entries;
    if (n < 64 || (n & (n - 1)) != 0) {
        return cps_fail(err, errlen, "dirty ring size must be a power of two of at least 64 entries, not %u", n);
    }
    /* Prefer the acquire/release flavour: it is the one that is correct on weakly ordered hosts too. */
    uint32_t which = KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
    int max = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, which);
    if (max <= 0) {
        which = KVM_CAP_DIRTY_LOG_RING;
        max = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, which);
    }
    if (max <= 0) {
        return cps_fail(err, errlen, "dirty=ring needs KVM_CAP_DIRTY_LOG_RING, which this KVM lacks");
    }
    uint64_t bytes = (uint64_t)n * sizeof(struct kvm_dirty_gfn);
    if (bytes > (uint64_t)max) {
        return cps_fail(err, errlen, "dirty ring of %u entries (%llu bytes) exceeds this KVM's maximum of %d bytes",
                        n, (unsigned long long)bytes, max);
    }
    struct kvm_enable_cap cap = { .cap = which };
    cap.args[0] = bytes;
    if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) != 0) {
        return cps_fail_errno(err, errlen, "enabling the dirty ring with %u entries failed", n);
    }
    vm->ring_acq_rel = which == KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
    return 0;
}

int cps_dirty_init_vcpu(struct cps_vcpu *c, char *err, size_t errlen)
{
    struct cps_vm *vm = c->vm;
    if (vm->dirty_mode != CPS_DIRTY_RING) {
        return 0;
    }
    size_t bytes = (size_t)vm->ring_entries * sizeof(struct kvm_dirty_gfn);
    void *ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd,
                      (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * getpagesize());
    if (ring == MAP_FAILED) {
        return cps_fail_errno(err, errlen, "mapping the dirty ring of vCPU %u failed", c->id);
    }
    c->ring = ring;
    return 0;
}

void cps_dirty_free(struct cps_vm *vm)
{
    free((void *)vm->vmm_dirty);
    free(vm->scratch);
    free(vm->ring_dirty);
}

void cps_dirty_mark(struct cps_vm *vm, uint64_t gpa, uint64_t len)
{
    if (len == 0) {
        return;
    }
    uint64_t first = gpa / CPS_PAGE_SIZE;
    uint64_t last = (gpa + len - 1) / CPS_PAGE_SIZE;
    for (uint64_t p = first; p <= last && p < vm->pages; p++) {
        atomic_fetch_or_explicit(&vm->vmm_dirty[p / 64], 1ull << (p % 64), memory_order_relaxed);
    }
}

/*
 * KVM promises to exit with KVM_EXIT_DIRTY_RING_FULL while some entries are still free, but a KVM that
 * emulates guest code in the kernel (nested, paravirtualised) can push many entries without
 * passing that check, overrun the ring and overwrite entries we have not read. Those pages would be
 * missing from a checkpoint, so an overrun is fatal and says what to do instead.
 */
static int ring_overrun(struct cps_vcpu *c, char *err, size_t errlen)
{
    return cps_fail(err, errlen, "the dirty ring of vCPU %u (%u entries) overran: KVM logged more pages than it holds "
                    "before exiting, so dirty pages may be lost; use a larger ring-entries or dirty=bitmap",
                    c->id, c->vm->ring_entries);
}

/*
 * Moves the dirty entries of one ring into ring_dirty and marks them for reset; *count receives how
 * many. Caller holds dirty_lock.
 */
static int collect_ring(struct cps_vcpu *c, uint32_t *count, char *err, size_t errlen)
{
    struct cps_vm *vm = c->vm;
    *count = 0;
    for (;;) {
        if (*count == vm->ring_entries) {
            return ring_overrun(c, err, errlen); /* a full ring means KVM ignored the soft limit */
        }
        struct kvm_dirty_gfn *e = &c->ring[c->ring_fetch & (vm->ring_entries - 1)];
        /* Acquire: slot and offset are valid only once the dirty flag is seen. */
        uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
        if (!(flags & KVM_DIRTY_GFN_F_DIRTY)) {
            return 0;
        }
        if (e->slot != 0 || e->offset >= vm->pages) {
            return cps_fail(err, errlen, "vCPU %u dirty ring names slot %u page %llu, outside guest RAM", c->id,
                            e->slot, (unsigned long long)e->offset);
        }
        vm->ring_dirty[e->offset / 64] |= 1ull << (e->offset % 64);
        /* Release: KVM may recycle the entry only after we are done reading it. */
        __atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
        c->ring_fetch++;
        (*count)++;
    }
}

static int reset_rings(struct cps_vm *vm, char *err, size_t errlen)
{
    if (ioctl(vm->vm_fd, KVM_RESET_DIRTY_RINGS, 0) < 0) {
        return cps_fail_errno(err, errlen, "KVM_RESET_DIRTY_RINGS failed");
    }
    return 0;
}

int cps_dirty_ring_full(struct cps_vcpu *c, char *err, size_t errlen)
{
    struct cps_vm *vm = c->vm;
    pthread_mutex_lock(&vm->dirty_lock);
    uint32_t count;
    int rc = collect_ring(c, &count, err, errlen);
    if (rc == 0 && count == 0) {
        /* Full, yet nothing where we expect the next entry: KVM's index and ours have drifted apart. */
        rc = ring_overrun(c, err, errlen);
    }
    if (rc == 0) {
        rc = reset_rings(vm, err, errlen);
    }
    pthread_mutex_unlock(&vm->dirty_lock);
    return rc;
}

static int harvest_bitmap(struct cps_vm *vm, uint64_t *bitmap, char *err, size_t errlen)
{
    memset(vm->scratch, 0, vm->bitmap_words * sizeof(uint64_t));
    struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = vm->scratch };
    if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) != 0) {
        return cps_fail_errno(err, errlen, "KVM_GET_DIRTY_LOG failed");
    }
    /* Re-protect exactly the pages we are about to report, so no write between the two calls is lost. */
    struct kvm_clear_dirty_log clear = {
        .slot = 0,
        .first_page = 0,
        .num_pages = (uint32_t)vm->pages,
        .dirty_bitmap = vm->scratch,
    };
    if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) != 0) {
        return cps_fail_errno(err, errlen, "KVM_CLEAR_DIRTY_LOG failed");
    }
    for (uint64_t i = 0; i < vm->bitmap_words; i++) {
        bitmap[i] |= vm->scratch[i];
    }
    return 0;
}

static int harvest_ring(struct cps_vm *vm, uint64_t *bitmap, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        uint32_t count;
        if (collect_ring(&vm->vcpus[i], &count, err, errlen) != 0) {
            return -1;
        }
    }
    if (reset_rings(vm, err, errlen) != 0) {
        return -1;
    }
    for (uint64_t i = 0; i < vm->bitmap_words; i++) {
        bitmap[i] |= vm->ring_dirty[i];
        vm->ring_dirty[i] = 0;
    }
    return 0;
}

int cps_dirty_harvest(struct cps_vm *vm, uint64_t *bitmap, uint64_t words, char *err, size_t errlen)
{
    if (words < vm->bitmap_words) {
        return cps_fail(err, errlen, "harvest bitmap has %llu words, the guest needs %llu",
                        (unsigned long long)words, (unsigned long long)vm->bitmap_words);
    }
    memset(bitmap, 0, words * sizeof(uint64_t));
    pthread_mutex_lock(&vm->dirty_lock);
    int rc = vm->dirty_mode == CPS_DIRTY_BITMAP    ? harvest_bitmap(vm, bitmap, err, errlen)
             : vm->dirty_mode == CPS_DIRTY_PAGEMAP ? cps_pagemap_harvest(vm, bitmap, err, errlen)
                                                   : harvest_ring(vm, bitmap, err, errlen);
    if (rc == 0) {
        for (uint64_t i = 0; i < vm->bitmap_words; i++) {
            bitmap[i] |= atomic_exchange_explicit(&vm->vmm_dirty[i], 0, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&vm->dirty_lock);
    return rc;
}

int cps_vm_harvest(struct cps_vm *vm, uint64_t *bitmap, uint64_t words, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    bool stunned = vm->paused && vm->nparked == vm->nvcpus;
    pthread_mutex_unlock(&vm->lock);
    if (!stunned) {
        return cps_fail(err, errlen, "harvest needs a stunned guest");
    }
    return cps_dirty_harvest(vm, bitmap, words, err, errlen);
}
