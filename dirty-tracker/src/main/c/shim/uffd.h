/*
 * userfaultfd and PAGEMAP_SCAN definitions the shim needs, for build hosts whose kernel headers are
 * older than the kernels the shim runs on (e.g. 6.1 headers, 6.7+ kernel). Values are the kernel ABI.
 */
#ifndef CPSKVM_UFFD_H
#define CPSKVM_UFFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN   (1 << 1)
#define PM_SCAN_WP_MATCHING   (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct page_region {
    __u64 start;
    __u64 end;
    __u64 categories;
};

struct pm_scan_arg {
    __u64 size;
    __u64 flags;
    __u64 start;
    __u64 end;
    __u64 walk_end;
    __u64 vec;
    __u64 vec_len;
    __u64 max_pages;
    __u64 category_inverted;
    __u64 category_mask;
    __u64 category_anyof_mask;
    __u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

/* A new userfaultfd: the syscall, or /dev/userfaultfd where the syscall is restricted to privileged users. */
int cps_uffd_open(int flags, char *err, size_t errlen);

/* Write-protects (wp true) or releases the pages [first, first + count) of guest RAM registered with uffd. */
int cps_uffd_wp(int uffd, void *mem, uint64_t first, uint64_t count, bool wp, char *err, size_t errlen);

#endif
