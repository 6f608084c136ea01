/*
 * dirty=pagemap: dirty tracking without KVM's dirty log. Guest RAM is registered with a userfaultfd in
 * asynchronous write-protect mode (UFFD_FEATURE_WP_ASYNC, Linux 6.7+): a write to a protected page
 * is resolved by the kernel itself, which lifts the protection and so marks the page written. The
 * harvest is one PAGEMAP_SCAN ioctl on /proc/self/pagemap that returns every written page and
 * write-protects it again (PM_SCAN_WP_MATCHING), atomically per page. KVM's writes reach the host page
 * tables through the same faults (its MMU notifier drops a writable mapping when we re-protect).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define SCAN_VEC 512

int cps_pagemap_init(struct cps_vm *vm, char *err, size_t errlen)
{
    /*
     * An emulated guest's RAM is written only from user space (the emulator's stores, the shim's memcpy), so
     * its userfaultfd may be user-mode-only, which any user may open (vm.unprivileged_userfaultfd=0 allows
     * it); KVM writes guest RAM from the kernel and needs a full one. (Asynchronous write-protect faults are
     * resolved before that distinction is made anyway.)
     */
    int flags = O_CLOEXEC | O_NONBLOCK | (vm->backend == CPS_BACKEND_EMU ? UFFD_USER_MODE_ONLY : 0);
    int uffd = cps_uffd_open(flags, err, errlen);
    if (uffd < 0) {
        return -1;
    }
    vm->pm_uffd = uffd;
    struct uffdio_api api = {
        .api = UFFD_API,
        .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
    };
    if (ioctl(uffd, UFFDIO_API, &api) != 0) {
        return cps_fail_errno(err, errlen, "dirty=pagemap needs userfaultfd asynchronous write-protect "
                              "(UFFD_FEATURE_WP_ASYNC, Linux 6.7+), which this kernel refuses");
    }
    struct uffdio_register reg = {
        .range = { .start = (uint64_t)(uintptr_t)vm->mem, .len = vm->mem_bytes },
        .mode = UFFDIO_REGISTER_MODE_WP,
    };
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
        return cps_fail_errno(err, errlen, "UFFDIO_REGISTER (write-protect mode) of guest RAM failed");
    }
    vm->pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (vm->pm_fd < 0) {
        return cps_fail_errno(err, errlen, "opening /proc/self/pagemap failed");
    }
    vm->pm_vec = calloc(SCAN_VEC, sizeof(struct page_region));
    if (vm->pm_vec == NULL) {
        return cps_fail(err, errlen, "out of memory for the PAGEMAP_SCAN vector");
    }
    /* Probe the ioctl now (a scan that reports nothing, protects nothing) so a kernel without it fails at
     * creation with a clear reason rather than at the first harvest. */
    struct pm_scan_arg probe = {
        .size = sizeof(probe),
        .flags = PM_SCAN_CHECK_WPASYNC,
        .start = (uint64_t)(uintptr_t)vm->mem,
        .end = (uint64_t)(uintptr_t)vm->mem + CPS_PAGE_SIZE,
        .vec = (uint64_t)(uintptr_t)vm->pm_vec,
        .vec_len = SCAN_VEC,
        .category_mask = PAGE_IS_WRITTEN,
        .return_mask = PAGE_IS_WRITTEN,
    };
    if (ioctl(vm->pm_fd, PAGEMAP_SCAN, &probe) < 0) {
        return cps_fail_errno(err, errlen, "dirty=pagemap needs the PAGEMAP_SCAN ioctl (Linux 6.7+), which this "
                              "kernel refuses");
    }
    /* Protect all of RAM from the start; every page counts as dirty before the first harvest anyway. */
    return cps_uffd_wp(uffd, vm->mem, 0, vm->pages, true, err, errlen);
}

int cps_pagemap_harvest(struct cps_vm *vm, uint64_t *bitmap, char *err, size_t errlen)
{
    uint64_t base = (uint64_t)(uintptr_t)vm->mem;
    uint64_t start = base;
    uint64_t end = base + vm->mem_bytes;
    while (start < end) {
        struct pm_scan_arg arg = {
            .size = sizeof(arg),
            .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
            .start = start,
            .end = end,
            .vec = (uint64_t)(uintptr_t)vm->pm_vec,
            .vec_len = SCAN_VEC,
            .category_mask = PAGE_IS_WRITTEN,
            .return_mask = PAGE_IS_WRITTEN,
        };
        long n = ioctl(vm->pm_fd, PAGEMAP_SCAN, &arg);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return cps_fail_errno(err, errlen, "PAGEMAP_SCAN of guest RAM failed");
        }
        struct page_region *vec = vm->pm_vec;
        for (long i = 0; i < n; i++) {
            for (uint64_t a = vec[i].start; a < vec[i].end; a += CPS_PAGE_SIZE) {
                uint64_t page = (a - base) / CPS_PAGE_SIZE;
                bitmap[page / 64] |= 1ull << (page % 64);
            }
        }
        if (arg.walk_end <= start) {
            return cps_fail(err, errlen, "PAGEMAP_SCAN made no progress at 0x%llx", (unsigned long long)start);
        }
        start = arg.walk_end;
    }
    return 0;
}

void cps_pagemap_free(struct cps_vm *vm)
{
    if (vm->pm_fd >= 0) {
        close(vm->pm_fd);
    }
    if (vm->pm_uffd >= 0) {
        close(vm->pm_uffd);
    }
    free(vm->pm_vec);
}
