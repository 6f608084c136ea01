/*
 * What the host-side dirty tracking of the emulated backend (and of kvm's dirty=pagemap) costs: guest RAM as
 * the shim maps it (a shared memfd mapping), registered with an asynchronous write-protect userfaultfd.
 * Measures, per page: a first write to a write-protected page (the fault the kernel resolves itself), a
 * write to a page already written (no fault), and the PAGEMAP_SCAN harvest that reports and re-protects
 * written pages. A measurement, not a test:
 *
 *   cc -O2 -I dirty-tracker/src/main/c/shim -o /tmp/uffdcost dirty-tracker/src/test/c/uffdcost.c && /tmp/uffdcost 4096 20
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "uffd.h"

#define PAGE 4096ul

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(1);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    unsigned long pages = argc > 1 ? strtoul(argv[1], NULL, 10) : 4096;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    int memfd = memfd_create("uffdcost", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, (off_t)(pages * PAGE)) != 0) {
        die("memfd");
    }
    volatile unsigned char *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (mem == MAP_FAILED) {
        die("mmap");
    }
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (uffd < 0) {
        die("userfaultfd");
    }
    struct uffdio_api api = { .api = UFFD_API,
                              .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED
                                          | UFFD_FEATURE_WP_HUGETLBFS_SHMEM };
    if (ioctl(uffd, UFFDIO_API, &api) != 0) {
        die("UFFDIO_API (WP_ASYNC)");
    }
    struct uffdio_register reg = { .range = { .start = (unsigned long)mem, .len = pages * PAGE },
                                   .mode = UFFDIO_REGISTER_MODE_WP };
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
        die("UFFDIO_REGISTER");
    }
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    struct page_region *vec = calloc(512, sizeof(*vec));
    for (unsigned long p = 0; p < pages; p++) {
        mem[p * PAGE] = 1; /* populated, as a running guest's RAM is */
    }
    double *fault = calloc((size_t)rounds, sizeof(double)), *plain = calloc((size_t)rounds, sizeof(double));
    double *scan = calloc((size_t)rounds, sizeof(double));
    double *fault_cpu = calloc((size_t)rounds, sizeof(double));
    for (int r = 0; r < rounds; r++) {
        /* harvest: report every written page and write-protect it again */
        double t0 = now_us();
        unsigned long reported = 0;
        for (unsigned long start = (unsigned long)mem, end = start + pages * PAGE; start < end;) {
            struct pm_scan_arg arg = { .size = sizeof(arg), .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
                                       .start = start, .end = end, .vec = (unsigned long)vec, .vec_len = 512,
                                       .category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN };
            long n = ioctl(pm, PAGEMAP_SCAN, &arg);
            if (n < 0) {
                die("PAGEMAP_SCAN");
            }
            for (long i = 0; i < n; i++) {
                reported += (vec[i].end - vec[i].start) / PAGE;
            }
            start = arg.walk_end;
        }
        scan[r] = (now_us() - t0) / pages;
        if (r > 0 && reported != pages) {
            fprintf(stderr, "round %d: harvest reported %lu pages, %lu were written\n", r, reported, pages);
            return 1;
        }
        t0 = now_us();
        double c0 = cpu_us();
        for (unsigned long p = 0; p < pages; p++) {
            mem[p * PAGE + 8] = (unsigned char)r; /* first write since the harvest: a write-protect fault */
        }
        fault_cpu[r] = (cpu_us() - c0) / pages;
        fault[r] = (now_us() - t0) / pages;
        t0 = now_us();
        for (unsigned long p = 0; p < pages; p++) {
            mem[p * PAGE + 16] = (unsigned char)r; /* the same pages again: no fault */
        }
        plain[r] = (now_us() - t0) / pages;
    }
    qsort(fault + 1, (size_t)rounds - 1, sizeof(double), cmp);
    qsort(plain + 1, (size_t)rounds - 1, sizeof(double), cmp);
    qsort(fault_cpu + 1, (size_t)rounds - 1, sizeof(double), cmp);
    qsort(scan + 1, (size_t)rounds - 1, sizeof(double), cmp);
    int mid = 1 + (rounds - 1) / 2;
    printf("%lu pages, %d rounds (medians over rounds 2..%d, per page): first write to a protected page %.2f us "
           "(%.2f us of CPU), write without fault %.3f us, PAGEMAP_SCAN harvest + re-protect %.3f us\n",
           pages, rounds, rounds, fault[mid], fault_cpu[mid], plain[mid], scan[mid]);
    return 0;
}
