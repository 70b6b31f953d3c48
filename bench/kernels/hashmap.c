/* An open-addressing hash map (linear probing, power-of-two capacity, tombstones) from
 * uint64 keys to uint64 values: N inserts, 2N lookups (half of them misses), N/2 deletes,
 * then N/2 more lookups. argv[1] = N. */
#include "kernel.h"

#define EMPTY 0
#define TOMBSTONE 1 /* keys 0 and 1 are reserved; inputs are forced >= 2 */

typedef struct {
    uint64_t *keys;
    uint64_t *vals;
    uint64_t mask;
} map;

static inline uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    return k;
}

static void put(map *m, uint64_t k, uint64_t v) {
    uint64_t i = mix(k) & m->mask;
    long grave = -1;
    while (m->keys[i] != EMPTY) {
        if (m->keys[i] == k) {
            m->vals[i] = v;
            return;
        }
        if (m->keys[i] == TOMBSTONE && grave < 0) {
            grave = (long)i;
        }
        i = (i + 1) & m->mask;
    }
    if (grave >= 0) {
        i = (uint64_t)grave;
    }
    m->keys[i] = k;
    m->vals[i] = v;
}

static int get(const map *m, uint64_t k, uint64_t *v) {
    uint64_t i = mix(k) & m->mask;
    while (m->keys[i] != EMPTY) {
        if (m->keys[i] == k) {
            *v = m->vals[i];
            return 1;
        }
        i = (i + 1) & m->mask;
    }
    return 0;
}

static void del(map *m, uint64_t k) {
    uint64_t i = mix(k) & m->mask;
    while (m->keys[i] != EMPTY) {
        if (m->keys[i] == k) {
            m->keys[i] = TOMBSTONE;
            return;
        }
        i = (i + 1) & m->mask;
    }
}

int main(int argc, char **argv) {
    long n = kernel_size(argc, argv, 1500 * 1000);
    uint64_t cap = 1;
    while (cap < (uint64_t)n * 2) {
        cap <<= 1;
    }
    map m = {calloc(cap, 8), calloc(cap, 8), cap - 1};
    if (!m.keys || !m.vals) {
        return 1;
    }
    double t0 = kernel_now_ms();
    uint64_t seed = 5, sum = 0, v;
    for (long i = 0; i < n; i++) {
        put(&m, (kernel_rand(&seed) | 2), (uint64_t)i);
    }
    seed = 5;
    for (long i = 0; i < n; i++) {
        uint64_t k = kernel_rand(&seed) | 2;
        sum += get(&m, k, &v) ? v : 0;
        sum += get(&m, k ^ UINT64_C(0x8000000000000000), &v) ? v + 1 : 0;
    }
    seed = 5;
    for (long i = 0; i < n; i += 2) {
        del(&m, kernel_rand(&seed) | 2);
        kernel_rand(&seed);
    }
    seed = 5;
    for (long i = 0; i < n; i += 2) {
        kernel_rand(&seed);
        uint64_t k = kernel_rand(&seed) | 2;
        sum = sum * 7 + (get(&m, k, &v) ? v : 0);
    }
    return kernel_report(sum, t0);
}
