/*
 * Copy-before-write of guest pages after a stun: userfaultfd write-protect (synchronous) on guest RAM.
 *
 * At a stun the agent protects the pages it will copy after the guest resumed (UFFDIO_WRITEPROTECT).
 * A vCPU (or the VMM) writing such a page first faults; the fault thread saves the page into a shadow
 * mapping, lifts the protection and the write goes on. The agent's copier takes each protected page
 * either from RAM (still protected, so unchanged since the stun; protection lifted after the copy) or
 * from the shadow. prot_lock makes "who copies first" one decision per page.
 *
 * The copier lifts protection lazily, one UFFDIO_WRITEPROTECT per run of consecutive copied pages
 * rather than per page: a copied page is no longer owed (its bit is clear), so a write that faults on
 * it meanwhile is simply let through by the fault thread.
 *
 * The shadow is a MAP_NORESERVE anonymous mapping as large as RAM: a saved page lives at its own
 * offset, and only saved pages take memory (given back with MADV_DONTNEED on release).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

int cps_uffd_open(int flags, char *err, size_t errlen)
{
    int fd = (int)syscall(SYS_userfaultfd, flags);
    if (fd >= 0) {
        return fd;
    }
    int first = errno;
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev >= 0) {
        fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
        int e = errno;
        close(dev);
        if (fd >= 0) {
            return fd;
        }
        errno = e;
        return cps_fail_errno(err, errlen, "userfaultfd failed (%s), and so did /dev/userfaultfd", strerror(first));
    }
    errno = first;
    return cps_fail_errno(err, errlen, "userfaultfd failed (for unprivileged users it needs "
                          "vm.unprivileged_userfaultfd=1 or access to /dev/userfaultfd)");
}

int cps_uffd_wp(int uffd, void *mem, uint64_t first, uint64_t count, bool wp, char *err, size_t errlen)
{
    struct uffdio_writeprotect req = {
        .range = { .start = (uint64_t)(uintptr_t)mem + first * CPS_PAGE_SIZE, .len = count * CPS_PAGE_SIZE },
        .mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
    };
    while (ioctl(uffd, UFFDIO_WRITEPROTECT, &req) != 0) {
        if (errno != EAGAIN) {
            return cps_fail_errno(err, errlen, "UFFDIO_WRITEPROTECT(%s) of pages %llu..%llu failed",
                                  wp ? "protect" : "release", (unsigned long long)first,
                                  (unsigned long long)(first + count - 1));
        }
    }
    return 0;
}

static bool test_bit(const uint64_t *bits, uint64_t page)
{
    return (bits[page / 64] >> (page % 64)) & 1;
}

static void set_bit(uint64_t *bits, uint64_t page, bool on)
{
    if (on) {
        bits[page / 64] |= 1ull << (page % 64);
    } else {
        bits[page / 64] &= ~(1ull << (page % 64));
    }
}

static void record_fault_error(struct cps_vm *vm, const char *what)
{
    if (vm->prot_fault_err[0] == '\0') {
        snprintf(vm->prot_fault_err, sizeof(vm->prot_fault_err), "%s", what);
    }
}

/* One write-protect fault: save the page if it is still owed to the copier, then let the write go on. */
static void handle_fault(struct cps_vm *vm, uint64_t address)
{
    uint64_t base = (uint64_t)(uintptr_t)vm->mem;
    char err[CPS_ERR_MAX];
    if (address < base || address >= base + vm->mem_bytes) {
        record_fault_error(vm, "write-protect fault outside guest RAM");
        return;
    }
    uint64_t page = (address - base) / CPS_PAGE_SIZE;
    pthread_mutex_lock(&vm->prot_lock);
    if (test_bit(vm->prot_bits, page)) {
        memcpy(vm->shadow + page * CPS_PAGE_SIZE, vm->mem + page * CPS_PAGE_SIZE, CPS_PAGE_SIZE);
        set_bit(vm->saved_bits, page, true);
        set_bit(vm->prot_bits, page, false);
        vm->cow_faults++;
    }
    /* Releasing also wakes the faulting thread; done even when the copier got there first, in case it
     * released between the fault and now (a second release is harmless). */
    if (cps_uffd_wp(vm->uffd, vm->mem, page, 1, false, err, sizeof(err)) != 0) {
        record_fault_error(vm, err);
    }
    pthread_mutex_unlock(&vm->prot_lock);
}

static void *fault_thread(void *arg)
{
    struct cps_vm *vm = arg;
    for (;;) {
        struct pollfd fds[2] = { { .fd = vm->uffd, .events = POLLIN }, { .fd = vm->prot_stop_fd, .events = POLLIN } };
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            record_fault_error(vm, "poll on the userfaultfd failed");
            return NULL;
        }
        if (fds[1].revents) {
            return NULL;
        }
        struct uffd_msg msgs[16];
        ssize_t n = read(vm->uffd, msgs, sizeof(msgs));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            record_fault_error(vm, "reading the userfaultfd failed");
            return NULL;
        }
        for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
            if (msgs[i].event == UFFD_EVENT_PAGEFAULT) {
                handle_fault(vm, msgs[i].arg.pagefault.address);
            }
        }
    }
}

static int protect_init(struct cps_vm *vm, char *err, size_t errlen)
{
    if (vm->prot_ready) {
        return 0;
    }
    if (vm->backend == CPS_BACKEND_EMU) {
        return cps_fail(err, errlen, "the emulated guest's dirty tracking (PAGEMAP_SCAN) already holds guest RAM's one "
                        "userfaultfd context");
    }
    if (vm->dirty_mode == CPS_DIRTY_PAGEMAP) {
        return cps_fail(err, errlen, "dirty=pagemap already tracks guest RAM with an asynchronous userfaultfd, and a "
                        "range has only one userfaultfd context: copy-before-write needs dirty=bitmap or dirty=ring");
    }
    int uffd = cps_uffd_open(O_CLOEXEC | O_NONBLOCK, err, errlen);
    if (uffd < 0) {
        return -1;
    }
    struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_WP_UNPOPULATED };
    if (ioctl(uffd, UFFDIO_API, &api) != 0) {
        int e = errno;
        close(uffd);
        errno = e;
        return cps_fail_errno(err, errlen, "UFFDIO_API with write-protect on shared memory (WP_HUGETLBFS_SHMEM, "
                              "Linux 5.19+, and WP_UNPOPULATED, 6.4+) failed");
    }
    struct uffdio_register reg = {
        .range = { .start = (uint64_t)(uintptr_t)vm->mem, .len = vm->mem_bytes },
        .mode = UFFDIO_REGISTER_MODE_WP,
    };
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
        int e = errno;
        close(uffd);
        errno = e;
        return cps_fail_errno(err, errlen, "UFFDIO_REGISTER (write-protect mode) of guest RAM failed");
    }
    if (!(reg.ioctls & (1ull << _UFFDIO_WRITEPROTECT))) {
        close(uffd);
        return cps_fail(err, errlen, "this kernel registers guest RAM without UFFDIO_WRITEPROTECT");
    }
    void *shadow = mmap(NULL, vm->mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (shadow == MAP_FAILED) {
        close(uffd);
        return cps_fail_errno(err, errlen, "mapping the copy-before-write shadow failed");
    }
    vm->prot_bits = calloc(vm->bitmap_words, sizeof(uint64_t));
    vm->saved_bits = calloc(vm->bitmap_words, sizeof(uint64_t));
    vm->prot_stop_fd = eventfd(0, EFD_CLOEXEC);
    if (vm->prot_bits == NULL || vm->saved_bits == NULL || vm->prot_stop_fd < 0) {
        munmap(shadow, vm->mem_bytes);
        close(uffd);
        return cps_fail(err, errlen, "out of memory (or file descriptors) for copy-before-write");
    }
    vm->uffd = uffd;
    vm->shadow = shadow;
    int rc = pthread_create(&vm->prot_thread, NULL, fault_thread, vm);
    if (rc != 0) {
        errno = rc;
        return cps_fail_errno(err, errlen, "starting the write-protect fault thread failed");
    }
    vm->prot_thread_started = true;
    vm->prot_ready = true;
    return 0;
}

int cps_vm_protect_probe(struct cps_vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->prot_lock);
    int rc = protect_init(vm, err, errlen);
    pthread_mutex_unlock(&vm->prot_lock);
    return rc;
}

int cps_vm_protect(struct cps_vm *vm, const uint64_t *bitmap, uint64_t words, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    bool stunned = vm->paused && vm->nparked == vm->nvcpus;
    pthread_mutex_unlock(&vm->lock);
    if (!stunned) {
        return cps_fail(err, errlen, "protect needs a stunned guest");
    }
    pthread_mutex_lock(&vm->prot_lock);
    int rc = protect_init(vm, err, errlen);
    if (rc == 0 && vm->prot_open) {
        rc = cps_fail(err, errlen, "the pages protected at an earlier stun are still protected");
    }
    uint64_t n = words < vm->bitmap_words ? words : vm->bitmap_words;
    /* One ioctl per run of consecutive pages. */
    for (uint64_t page = 0; rc == 0 && page < n * 64 && page < vm->pages;) {
        if (!test_bit(bitmap, page)) {
            page++;
            continue;
        }
        uint64_t end = page;
        while (end < vm->pages && end < n * 64 && test_bit(bitmap, end)) {
            set_bit(vm->prot_bits, end, true);
            end++;
        }
        rc = cps_uffd_wp(vm->uffd, vm->mem, page, end - page, true, err, errlen);
        page = end;
    }
    if (rc == 0) {
        vm->prot_open = true;
        vm->cow_faults = 0;
    }
    pthread_mutex_unlock(&vm->prot_lock);
    return rc;
}

/* Lifts the protection of the pending run of copied pages. Caller holds prot_lock. */
static int lift_pending(struct cps_vm *vm, char *err, size_t errlen)
{
    if (vm->lift_count == 0) {
        return 0;
    }
    int rc = cps_uffd_wp(vm->uffd, vm->mem, vm->lift_first, vm->lift_count, false, err, errlen);
    vm->lift_count = 0;
    return rc;
}

int cps_vm_protected_copy(struct cps_vm *vm, uint64_t page, void *dst, char *err, size_t errlen)
{
    if (page >= vm->pages) {
        return cps_fail(err, errlen, "page %llu is outside guest RAM", (unsigned long long)page);
    }
    pthread_mutex_lock(&vm->prot_lock);
    int rc = 0;
    if (vm->prot_fault_err[0] != '\0') {
        rc = cps_fail(err, errlen, "the write-protect fault thread failed: %s", vm->prot_fault_err);
    } else if (vm->prot_ready && test_bit(vm->prot_bits, page)) {
        /* Still protected: nothing wrote it since the stun. Copy, then let writes through. */
        memcpy(dst, vm->mem + page * CPS_PAGE_SIZE, CPS_PAGE_SIZE);
        set_bit(vm->prot_bits, page, false);
        if (vm->lift_count > 0 && page == vm->lift_first + vm->lift_count && vm->lift_count < 1024) {
            vm->lift_count++;
        } else {
            rc = lift_pending(vm, err, errlen);
            vm->lift_first = page;
            vm->lift_count = 1;
        }
    } else if (vm->prot_ready && test_bit(vm->saved_bits, page)) {
        memcpy(dst, vm->shadow + page * CPS_PAGE_SIZE, CPS_PAGE_SIZE);
        set_bit(vm->saved_bits, page, false);
    } else {
        rc = cps_fail(err, errlen, "page %llu is not protected (or was copied already)", (unsigned long long)page);
    }
    pthread_mutex_unlock(&vm->prot_lock);
    return rc;
}

uint64_t cps_vm_cow_faults(struct cps_vm *vm)
{
    pthread_mutex_lock(&vm->prot_lock);
    uint64_t n = vm->cow_faults;
    pthread_mutex_unlock(&vm->prot_lock);
    return n;
}

int cps_vm_protect_release(struct cps_vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->prot_lock);
    int rc = 0;
    if (vm->prot_ready) {
        rc = lift_pending(vm, err, errlen);
        for (uint64_t page = 0; page < vm->pages;) {
            if (!test_bit(vm->prot_bits, page) && !test_bit(vm->saved_bits, page)) {
                page++;
                continue;
            }
            uint64_t end = page;
            while (end < vm->pages && (test_bit(vm->prot_bits, end) || test_bit(vm->saved_bits, end))) {
                set_bit(vm->prot_bits, end, false);
                set_bit(vm->saved_bits, end, false);
                end++;
            }
            int r = cps_uffd_wp(vm->uffd, vm->mem, page, end - page, false, err, errlen);
            madvise(vm->shadow + page * CPS_PAGE_SIZE, (end - page) * CPS_PAGE_SIZE, MADV_DONTNEED);
            if (rc == 0) {
                rc = r;
            }
            page = end;
        }
    }
    vm->prot_open = false;
    pthread_mutex_unlock(&vm->prot_lock);
    return rc;
}

void cps_protect_free(struct cps_vm *vm)
{
    if (vm->prot_thread_started) {
        uint64_t one = 1;
        if (write(vm->prot_stop_fd, &one, sizeof(one)) == sizeof(one)) {
            pthread_join(vm->prot_thread, NULL);
        }
    }
    if (vm->uffd >= 0) {
        close(vm->uffd);
    }
    if (vm->prot_stop_fd >= 0) {
        close(vm->prot_stop_fd);
    }
    if (vm->shadow != NULL) {
        munmap(vm->shadow, vm->mem_bytes);
    }
    free(vm->prot_bits);
    free(vm->saved_bits);
    pthread_mutex_destroy(&vm->prot_lock);
}
