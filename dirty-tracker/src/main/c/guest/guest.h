/* What every guest program can use: port I/O, the channels, a few freestanding helpers. */
#ifndef CPS_GUEST_H
#define CPS_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "../abi/cpskvm_abi.h"

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static inline void cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}

/* A record buffer with room for the largest payload; the channels pass its address. */
struct guest_record {
    uint32_t len;
    uint32_t cap;
    uint8_t data[CPS_RECORD_MAX];
};

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void console_puts(const char *s);
/* Emits one output record. The exit is the moment the output exists: state written before it is part of it. */
void emit(const void *data, uint32_t len);
/* Waits for the next input request; returns its length (the data is in rec->data). */
uint32_t await_input(struct guest_record *rec);
__attribute__((noreturn)) void panic(uint32_t code);

/* Guest program entry, on vCPU 0 only; the others halt. */
void guest_main(const struct cps_bootinfo *boot);

static inline uint64_t arg_or(const struct cps_bootinfo *boot, uint32_t i, uint64_t fallback)
{
    return i < boot->nargs ? boot->args[i] : fallback;
}

#endif
