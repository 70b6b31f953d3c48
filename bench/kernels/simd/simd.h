/* Vector types for the SIMD kernels (bench/compute.py's "simd" group).
 *
 * The kernels use the GNU vector extensions, which clang-14 and gcc 12 both accept, so one
 * source builds for wasm32-wasi with -msimd128 (clang lowers them to v128 operations) and
 * natively with gcc -O2 (SSE2, the x86-64 baseline). __builtin_shufflevector and
 * __builtin_convertvector exist in both compilers. compute.py checks that every SIMD kernel's
 * .wasm really contains v128 operations. */
#ifndef BENCH_SIMD_H
#define BENCH_SIMD_H

#include <string.h>

#include "../kernel.h"

typedef uint8_t u8x8 __attribute__((vector_size(8)));
typedef uint8_t u8x16 __attribute__((vector_size(16)));
typedef uint16_t u16x8 __attribute__((vector_size(16)));
typedef uint32_t u32x4 __attribute__((vector_size(16)));
typedef float f32x4 __attribute__((vector_size(16)));

/* Unaligned loads and stores (v128.load / v128.store; movdqu natively). */
static inline u32x4 load_u32x4(const void *p) {
    u32x4 v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline f32x4 load_f32x4(const void *p) {
    f32x4 v;
    memcpy(&v, p, sizeof(v));
    return v;
}

#endif
