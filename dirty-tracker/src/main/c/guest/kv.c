/*
 * kv: a key-value store kept in guest memory, served over the input and output channels.
 *
 * Request  (input):  u8 op ('P' put, 'G' get, 'D' delete), u8 key length, u16 value length,
 *                    u32 zero, u64 request id, key bytes, value bytes (put only)
 * Response (output): u64 request id, u8 status, u8 op, u16 value length, u32 zero, value bytes (get)
 * Status: 0 ok, 1 not found, 2 table full, 3 bad request. Keys up to 56 bytes, values up to 448.
 * The table is open addressing with linear probing, one 512-byte slot per entry, in the data region.
 * Args: 0 = slots (default 1024).
 */
#include "guest.h"

#define KEY_MAX 56u
#define VALUE_MAX 448u
#define HEADER 16u

enum { EMPTY = 0, USED = 1, DELETED = 2 };
enum { OK = 0, NOT_FOUND = 1, FULL = 2, BAD_REQUEST = 3 };

struct slot {
    uint8_t state;
    uint8_t klen;
    uint16_t vlen;
    uint32_t pad;
    uint8_t key[KEY_MAX];
    uint8_t value[VALUE_MAX];
};

_Static_assert(sizeof(struct slot) == 512, "slot layout");

static struct guest_record request;
static uint8_t response[HEADER + VALUE_MAX];

static uint64_t hash(const uint8_t *key, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < n; i++) {
        h = (h ^ key[i]) * 0x100000001b3ull;
    }
    return h;
}

/* The slot holding key, or (insert) the first reusable slot on its probe path; NULL if none. */
static struct slot *find(struct slot *table, uint64_t slots, const uint8_t *key, uint32_t klen, int insert)
{
    struct slot *reusable = 0;
    uint64_t at = hash(key, klen) % slots;
    for (uint64_t n = 0; n < slots; n++, at = (at + 1) % slots) {
        struct slot *s = &table[at];
        if (s->state == EMPTY) {
            return insert ? (reusable ? reusable : s) : 0;
        }
        if (s->state == DELETED) {
            if (!reusable) {
                reusable = s;
            }
            continue;
        }
        if (s->klen == klen && memcmp(s->key, key, klen) == 0) {
            return s;
        }
    }
    return insert ? reusable : 0;
}

static uint32_t serve(struct slot *table, uint64_t slots, uint32_t len)
{
    const uint8_t *r = request.data;
    uint8_t op = r[0], klen = r[1];
    uint16_t vlen = (uint16_t)(r[2] | (r[3] << 8));
    memcpy(response, r + 8, 8); /* the request id */
    response[8] = BAD_REQUEST;
    response[9] = op;
    response[10] = response[11] = 0;
    memset(response + 12, 0, 4);
    if (len < HEADER || klen == 0 || klen > KEY_MAX || vlen > VALUE_MAX || len != HEADER + klen + (op == 'P' ? vlen : 0)) {
        return HEADER;
    }
    const uint8_t *key = r + HEADER;
    if (op == 'P') {
        struct slot *s = find(table, slots, key, klen, 1);
        if (!s) {
            response[8] = FULL;
            return HEADER;
        }
        s->klen = klen;
        s->vlen = vlen;
        memcpy(s->key, key, klen);
        memcpy(s->value, key + klen, vlen);
        s->state = USED;
        response[8] = OK;
        return HEADER;
    }
    struct slot *s = find(table, slots, key, klen, 0);
    if (op == 'G') {
        if (!s) {
            response[8] = NOT_FOUND;
            return HEADER;
        }
        response[8] = OK;
        response[10] = (uint8_t)s->vlen;
        response[11] = (uint8_t)(s->vlen >> 8);
        memcpy(response + HEADER, s->value, s->vlen);
        return HEADER + s->vlen;
    }
    if (op == 'D') {
        response[8] = s ? OK : NOT_FOUND;
        if (s) {
            s->state = DELETED;
        }
        return HEADER;
    }
    return HEADER;
}

void guest_main(const struct cps_bootinfo *boot)
{
    uint64_t slots = arg_or(boot, 0, 1024);
    uint64_t room = (boot->mem_bytes - CPS_DATA_GPA) / sizeof(struct slot);
    if (slots == 0 || slots > room) {
        panic(2);
    }
    struct slot *table = (struct slot *)(uintptr_t)CPS_DATA_GPA;
    console_puts("kv: serving\n");
    for (;;) {
        uint32_t len = await_input(&request);
        emit(response, serve(table, slots, len));
    }
}
