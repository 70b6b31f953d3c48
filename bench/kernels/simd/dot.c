/* Float dot product on f32x4: a . b over two arrays of N floats (256 KiB each by default, in
 * L2), with four f32x4 accumulators (16 products per step, the usual unrolling of a SIMD dot
 * product), repeated for 256 passes with b rotated by one element each pass. The summation
 * order is fixed by the code, not left to a vectoriser, so every runner adds the same numbers
 * in the same order and the result's bits are the checksum. Checked first against a scalar
 * loop that adds in that order. argv[1] = passes. */
#include "simd.h"

#define N 65536

static float dot_vec(const float *a, const float *b, long n) {
    f32x4 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    for (long i = 0; i < n; i += 16) {
        s0 += load_f32x4(a + i) * load_f32x4(b + i);
        s1 += load_f32x4(a + i + 4) * load_f32x4(b + i + 4);
        s2 += load_f32x4(a + i + 8) * load_f32x4(b + i + 8);
        s3 += load_f32x4(a + i + 12) * load_f32x4(b + i + 12);
    }
    f32x4 s = (s0 + s1) + (s2 + s3);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static float dot_scalar(const float *a, const float *b, long n) {
    float s[16] = {0};
    for (long i = 0; i < n; i += 16) {
        for (int k = 0; k < 16; k++) {
            s[k] += a[i + k] * b[i + k];
        }
    }
    float v[4];
    for (int k = 0; k < 4; k++) {
        v[k] = (s[k] + s[4 + k]) + (s[8 + k] + s[12 + k]);
    }
    return (v[0] + v[1]) + (v[2] + v[3]);
}

int main(int argc, char **argv) {
    long passes = kernel_size(argc, argv, 12288);
    float *a = malloc(sizeof(float) * N);
    float *b = malloc(sizeof(float) * 2 * N); /* b twice in a row: rotation without a copy */
    if (!a || !b) {
        return 1;
    }
    uint64_t seed = 11;
    for (long i = 0; i < N; i++) {
        a[i] = (float)(int64_t)(kernel_rand(&seed) % 2001 - 1000) / 1024.0f;
        b[i] = b[N + i] = (float)(int64_t)(kernel_rand(&seed) % 2001 - 1000) / 1024.0f;
    }
    float v = dot_vec(a, b + 3, N), s = dot_scalar(a, b + 3, N);
    if (memcmp(&v, &s, sizeof(v)) != 0) {
        fprintf(stderr, "dot: vector and scalar sums differ (%a != %a)\n", v, s);
        return 2;
    }
    double t0 = kernel_now_ms();
    uint64_t sum = 0;
    for (long p = 0; p < passes; p++) {
        float d = dot_vec(a, b + (p % N), N);
        uint32_t bits;
        memcpy(&bits, &d, sizeof(bits));
        sum = sum * 31 + bits;
    }
    return kernel_report(sum, t0);
}
