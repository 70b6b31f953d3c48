/* Shared scaffolding of the compute kernels (bench/compute.py).
 *
 * Every kernel is one C file that builds unchanged for wasm32-wasi (clang-14) and natively
 * (gcc -O2). It takes an optional size on argv[1] (bench/compute.py passes a small one for
 * --quick), does its work once, and prints two lines on stdout:
 *     checksum <hex>      identical on every runner, or the run does not count
 *     kernel_ms <float>   the work's own monotonic-clock time, startup excluded
 * Only fixed-width types are used so that wasm32 and x86_64 compute the same values. */
#ifndef BENCH_KERNEL_H
#define BENCH_KERNEL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double kernel_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* xorshift64*: a small deterministic generator for inputs. */
static inline uint64_t kernel_rand(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* LEN pseudo-random bytes from SEED (xorshift64* words, little-endian on both wasm32 and
 * x86_64), in a malloc'd buffer; NULL when out of memory. */
static inline uint8_t *kernel_random_bytes(uint64_t len, uint64_t seed) {
    uint8_t *buf = malloc((size_t)len);
    if (!buf) {
        return NULL;
    }
    for (uint64_t i = 0; i < len; i += 8) {
        uint64_t x = kernel_rand(&seed);
        memcpy(buf + i, &x, len - i < 8 ? (size_t)(len - i) : 8);
    }
    return buf;
}

static inline long kernel_size(int argc, char **argv, long fallback) {
    if (argc > 1) {
        long n = strtol(argv[1], NULL, 10);
        if (n > 0) {
            return n;
        }
    }
    return fallback;
}

static inline int kernel_report(uint64_t checksum, double start_ms) {
    double elapsed = kernel_now_ms() - start_ms;
    printf("checksum %016" PRIx64 "\nkernel_ms %.3f\n", checksum, elapsed);
    return 0;
}

#endif
