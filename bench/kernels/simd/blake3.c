/* BLAKE3-style mixing on u32x4: the BLAKE3 compression function's G (add, xor, rotate by 16,
 * 12, 8, 7) on a 4x4 state held as four u32x4 rows, column step then diagonal step (lane
 * rotations by shuffles), 7 rounds per 64-byte block, message words gathered by shuffles and
 * permuted between rounds. Not BLAKE3 itself (no tree, fixed permutation of our own): the
 * mixing work of its SIMD implementations. Every block's output is folded into a chaining
 * value, as a hash would. A scalar version of the same function is checked against the vector
 * one first. argv[1] = MiB hashed (a 4 MiB buffer, hashed again until that total). */
#include "simd.h"

static const uint32_t IV[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                               0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static inline void g4(u32x4 *a, u32x4 *b, u32x4 *c, u32x4 *d, u32x4 mx, u32x4 my) {
    *a = *a + *b + mx;
    *d = ROTR(*d ^ *a, 16);
    *c = *c + *d;
    *b = ROTR(*b ^ *c, 12);
    *a = *a + *b + my;
    *d = ROTR(*d ^ *a, 8);
    *c = *c + *d;
    *b = ROTR(*b ^ *c, 7);
}

/* One block into the 8-word chaining value cv. */
static void compress_vec(uint32_t cv[8], const uint8_t *block, uint32_t counter) {
    u32x4 m0 = load_u32x4(block), m1 = load_u32x4(block + 16);
    u32x4 m2 = load_u32x4(block + 32), m3 = load_u32x4(block + 48);
    u32x4 a = load_u32x4(cv), b = load_u32x4(cv + 4);
    u32x4 c = load_u32x4(IV), d = load_u32x4(IV + 4);
    d ^= (u32x4){counter, 0, 64, 0};
    for (int r = 0; r < 7; r++) {
        g4(&a, &b, &c, &d, __builtin_shufflevector(m0, m1, 0, 2, 4, 6),
           __builtin_shufflevector(m0, m1, 1, 3, 5, 7));
        b = __builtin_shufflevector(b, b, 1, 2, 3, 0);
        c = __builtin_shufflevector(c, c, 2, 3, 0, 1);
        d = __builtin_shufflevector(d, d, 3, 0, 1, 2);
        g4(&a, &b, &c, &d, __builtin_shufflevector(m2, m3, 0, 2, 4, 6),
           __builtin_shufflevector(m2, m3, 1, 3, 5, 7));
        b = __builtin_shufflevector(b, b, 3, 0, 1, 2);
        c = __builtin_shufflevector(c, c, 2, 3, 0, 1);
        d = __builtin_shufflevector(d, d, 1, 2, 3, 0);
        /* permute the 16 message words (our fixed permutation, not BLAKE3's table) */
        u32x4 t0 = __builtin_shufflevector(m0, m1, 2, 6, 3, 4);
        u32x4 t1 = __builtin_shufflevector(m0, m1, 0, 7, 1, 5);
        u32x4 t2 = __builtin_shufflevector(m2, m3, 1, 7, 0, 5);
        u32x4 t3 = __builtin_shufflevector(m2, m3, 3, 4, 6, 2);
        m0 = t0, m1 = t1, m2 = t2, m3 = t3;
    }
    u32x4 lo = a ^ c, hi = b ^ d;
    memcpy(cv, &lo, 16);
    memcpy(cv + 4, &hi, 16);
}

/* The same function on scalars, lane by lane, for the self-check. */
static void g1(uint32_t s[16], int a, int b, int c, int d, uint32_t mx, uint32_t my) {
    s[a] = s[a] + s[b] + mx;
    s[d] = ROTR(s[d] ^ s[a], 16);
    s[c] = s[c] + s[d];
    s[b] = ROTR(s[b] ^ s[c], 12);
    s[a] = s[a] + s[b] + my;
    s[d] = ROTR(s[d] ^ s[a], 8);
    s[c] = s[c] + s[d];
    s[b] = ROTR(s[b] ^ s[c], 7);
}

static void compress_scalar(uint32_t cv[8], const uint8_t *block, uint32_t counter) {
    static const int perm[16] = {2, 6, 3, 4, 0, 7, 1, 5, 9, 15, 8, 13, 11, 12, 14, 10};
    uint32_t m[16], s[16];
    memcpy(m, block, 64);
    memcpy(s, cv, 32);
    memcpy(s + 8, IV, 32);
    s[12] ^= counter;
    s[14] ^= 64;
    for (int r = 0; r < 7; r++) {
        for (int i = 0; i < 4; i++) {
            g1(s, i, 4 + i, 8 + i, 12 + i, m[2 * i], m[2 * i + 1]);
        }
        for (int i = 0; i < 4; i++) {
            g1(s, i, 4 + (i + 1) % 4, 8 + (i + 2) % 4, 12 + (i + 3) % 4, m[8 + 2 * i],
               m[8 + 2 * i + 1]);
        }
        uint32_t t[16];
        for (int i = 0; i < 16; i++) {
            t[i] = m[perm[i]];
        }
        memcpy(m, t, 64);
    }
    for (int i = 0; i < 8; i++) {
        cv[i] = s[i] ^ s[i + 8];
    }
}

int main(int argc, char **argv) {
    long mib = kernel_size(argc, argv, 64);
    uint64_t len = (uint64_t)(mib < 4 ? mib : 4) << 20;
    uint8_t *buf = kernel_random_bytes(len, 7);
    if (!buf) {
        return 1;
    }
    uint32_t cv_v[8], cv_s[8];
    memcpy(cv_v, IV, 32);
    memcpy(cv_s, IV, 32);
    for (uint32_t i = 0; i < 64; i++) {
        compress_vec(cv_v, buf + 64 * i, i);
        compress_scalar(cv_s, buf + 64 * i, i);
    }
    if (memcmp(cv_v, cv_s, 32) != 0) {
        fprintf(stderr, "blake3: vector and scalar mixing disagree\n");
        return 2;
    }
    double t0 = kernel_now_ms();
    uint32_t cv[8];
    memcpy(cv, IV, 32);
    uint64_t blocks = ((uint64_t)mib << 20) / 64, per_pass = len / 64;
    for (uint64_t i = 0; i < blocks; i++) {
        compress_vec(cv, buf + 64 * (i % per_pass), (uint32_t)i);
    }
    uint64_t sum = 0;
    for (int i = 0; i < 8; i++) {
        sum = sum * 0x100000001B3ULL ^ cv[i];
    }
    return kernel_report(sum, t0);
}
