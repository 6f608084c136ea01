/* The few library functions a freestanding guest needs (gcc may emit calls to the mem* ones itself). */
#include "guest.h"

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--) {
        *d++ = *s++;
    }
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    while (n--) {
        *d++ = (uint8_t)c;
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) {
            return x[i] < y[i] ? -1 : 1;
        }
    }
    return 0;
}

void console_puts(const char *s)
{
    while (*s) {
        outb(CPS_PORT_CONSOLE, (uint8_t)*s++);
    }
}

static struct guest_record out_rec;

void emit(const void *data, uint32_t len)
{
    if (len > CPS_RECORD_MAX) {
        panic(1);
    }
    memcpy(out_rec.data, data, len);
    out_rec.len = len;
    out_rec.cap = CPS_RECORD_MAX;
    outl(CPS_PORT_OUTPUT, (uint32_t)(uintptr_t)&out_rec);
}

uint32_t await_input(struct guest_record *rec)
{
    for (;;) {
        /* The poll blocks in the VMM while the queue is empty, so this loop does not spin. */
        if (inl(CPS_PORT_INPUT_POLL) == 0) {
            continue;
        }
        rec->cap = CPS_RECORD_MAX;
        rec->len = 0;
        outl(CPS_PORT_INPUT_FETCH, (uint32_t)(uintptr_t)rec);
        if (rec->len != 0) {
            return rec->len;
        }
    }
}

void panic(uint32_t code)
{
    for (;;) {
        outl(CPS_PORT_PANIC, code);
    }
}
