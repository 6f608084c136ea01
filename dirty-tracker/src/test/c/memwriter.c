/*
 * A process whose memory a test controls, for the process source's tests. Reads one command per line
 * from stdin and answers one line ("ok ..." or "error ...") on stdout:
 *   map PAGES            maps PAGES anonymous read-write pages as the next region; answers its address
 *   fill REGION PAGE B   sets every byte of page PAGE of region REGION to B
 *   fillall REGION B     sets every byte of region REGION to B
 *   grow REGION PAGES    resizes region REGION to PAGES pages (may move it); answers its address
 *   unmap REGION         unmaps region REGION
 *   spin REGION          starts a thread that increments the first word of region REGION forever
 * Built by the test with cc; not part of the product.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_REGIONS 64

static unsigned char *regions[MAX_REGIONS];
static size_t region_pages[MAX_REGIONS];
static int region_count;
static long page_size;

static void *spin(void *arg) {
    volatile uint64_t *word = arg;
    for (;;) {
        (*word)++;
    }
    return NULL;
}

int main(void) {
    char line[256];
    page_size = sysconf(_SC_PAGESIZE);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready %d\n", (int) getpid());
    while (fgets(line, sizeof line, stdin)) {
        unsigned long a = 0, b = 0, c = 0;
        if (sscanf(line, "map %lu", &a) == 1) {
            void *p = mmap(NULL, a * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED || region_count == MAX_REGIONS) {
                printf("error map\n");
                continue;
            }
            regions[region_count] = p;
            region_pages[region_count] = a;
            printf("ok %d %lx\n", region_count++, (unsigned long) p);
        } else if (sscanf(line, "fillall %lu %lu", &a, &b) == 2 && a < (unsigned long) region_count && regions[a]) {
            memset(regions[a], (int) b, region_pages[a] * page_size);
            printf("ok\n");
        } else if (sscanf(line, "fill %lu %lu %lu", &a, &b, &c) == 3 && a < (unsigned long) region_count
                   && regions[a] && b < region_pages[a]) {
            memset(regions[a] + b * page_size, (int) c, page_size);
            printf("ok\n");
        } else if (sscanf(line, "grow %lu %lu", &a, &b) == 2 && a < (unsigned long) region_count && regions[a]) {
            void *p = mremap(regions[a], region_pages[a] * page_size, b * page_size, MREMAP_MAYMOVE);
            if (p == MAP_FAILED) {
                printf("error grow\n");
                continue;
            }
            regions[a] = p;
            region_pages[a] = b;
            printf("ok %lx\n", (unsigned long) p);
        } else if (sscanf(line, "unmap %lu", &a) == 1 && a < (unsigned long) region_count && regions[a]) {
            munmap(regions[a], region_pages[a] * page_size);
            regions[a] = NULL;
            printf("ok\n");
        } else if (sscanf(line, "spin %lu", &a) == 1 && a < (unsigned long) region_count && regions[a]) {
            pthread_t thread;
            pthread_create(&thread, NULL, spin, regions[a]);
            printf("ok\n");
        } else {
            printf("error %s", line);
        }
    }
    return 0;
}
