/*
 * memtouch: dirties a chosen pattern of pages. Step s writes one word into each of the pages
 *   data_page((s * pages + i) * stride mod region_pages), i = 0 .. pages-1
 * of the data region (from CPS_DATA_GPA to the end of RAM), then emits s as a 64-bit record.
 * Args: 0 = pages per step (default 16), 1 = stride in pages (default 1), 2 = mode (0: run steps
 * back to back; 1: run one step per input request, whose first 8 bytes, if present, say how many).
 */
#include "guest.h"

static struct guest_record request;
static uint64_t step; /* next step to run */

static void run_step(uint64_t pages, uint64_t stride, uint64_t region_pages)
{
    uint8_t *data = (uint8_t *)(uintptr_t)CPS_DATA_GPA;
    for (uint64_t i = 0; i < pages; i++) {
        uint64_t page = ((step * pages + i) * stride) % region_pages;
        volatile uint64_t *word = (volatile uint64_t *)(data + page * CPS_PAGE_SIZE + (step % 512) * 8);
        *word = step + 1;
    }
    uint64_t done = step;
    step++;
    emit(&done, sizeof(done));
}

void guest_main(const struct cps_bootinfo *boot)
{
    uint64_t pages = arg_or(boot, 0, 16);
    uint64_t stride = arg_or(boot, 1, 1);
    uint64_t commanded = arg_or(boot, 2, 0);
    uint64_t region_pages = (boot->mem_bytes - CPS_DATA_GPA) / CPS_PAGE_SIZE;
    console_puts("memtouch: running\n");
    for (;;) {
        uint64_t steps = 1;
        if (commanded) {
            uint32_t len = await_input(&request);
            if (len >= 8) {
                memcpy(&steps, request.data, 8);
            }
        }
        for (uint64_t s = 0; s < steps; s++) {
            run_step(pages, stride, region_pages);
        }
    }
}
