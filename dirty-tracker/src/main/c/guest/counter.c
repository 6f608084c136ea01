/*
 * counter: each step writes its number into a page of a small memory area, then emits it as a
 * 64-bit little-endian record. The sequence is 1, 2, 3, ... so a restored guest proves it resumed at
 * the right point when its first output is the successor of the last one before the checkpoint.
 * Args: 0 = area pages (default 16), 1 = pause iterations between steps (default 0).
 */
#include "guest.h"

static volatile uint64_t last; /* the last number emitted: the counter's whole state */

void guest_main(const struct cps_bootinfo *boot)
{
    uint64_t area_pages = arg_or(boot, 0, 16);
    uint64_t spin = arg_or(boot, 1, 0);
    volatile uint64_t *area = (volatile uint64_t *)(uintptr_t)CPS_DATA_GPA;
    console_puts("counter: running\n");
    for (;;) {
        uint64_t next = last + 1;
        volatile uint64_t *page = area + (next % area_pages) * (CPS_PAGE_SIZE / 8);
        page[0] = next;
        page[1] = ~next;
        last = next;
        emit(&next, sizeof(next));
        for (uint64_t i = 0; i < spin; i++) {
            cpu_relax();
        }
    }
}
